"""Exit codes shared by every subcommand."""

OK = 0  # every selected property holds / proved / trace valid
VIOLATED = 1  # a property is violated (or a replayed trace diverged)
USAGE = 2  # bad usage, bad model, design, rule or trace file
LIMIT = 3  # a resource limit (states, time, memory) or an unknown from a solver ended the run
INTERNAL = 4  # a defect of dmabuf-check itself (never 1, which CI reads as a found bug)
OUTSIDE = 5  # prove: nothing violated, and what is not proved lies outside the engine's fragment (every-N)
INTERRUPTED = 130  # Ctrl-C: partial figures are still printed and written


def is_interrupt(e: BaseException) -> bool:
    """Ctrl-C, also when it lands inside a z3 call: ctypes then reports it as an ArgumentError."""
    return isinstance(e, KeyboardInterrupt) or (type(e).__name__ == "ArgumentError" and "KeyboardInterrupt" in str(e))
