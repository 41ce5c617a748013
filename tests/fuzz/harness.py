"""Run one fuzz case in-process, with a deadline, and say what went wrong (if anything).

A case fails when the tool crashes (a traceback, an exception out of ``main``, the internal-error exit code 4),
hangs past the deadline, exits with a code the README does not document, or exits 0 while it printed an
error. Running in-process keeps a case to milliseconds when the input is refused at once (most are); the
deadline is a timer signal that raises an exception no handler of the tool catches.
"""

from __future__ import annotations

import contextlib
import io
import signal
import time
from dataclasses import dataclass

from dmabuf_check.cli.main import main

DOCUMENTED = {0, 1, 2, 3, 5, 130}  # README "Exit codes"; 4 is an internal error


class Hang(BaseException):
    """The deadline passed (a BaseException: the tool's own handlers catch Exception, not this)."""


@dataclass
class Outcome:
    code: int | None
    seconds: float
    problem: str  # "" when the case passed
    out: str
    err: str


def _alarm(_sig, _frame):
    raise Hang


def run(argv: list[str], deadline: float = 30.0) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, deadline)
    t0 = time.perf_counter()
    code: int | None = None
    problem = ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    except SystemExit as e:  # argparse usage errors and --help
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except Hang:
        problem = f"hang: no verdict after {deadline:g} s"
    except BaseException as e:  # noqa: BLE001 - anything out of main() is a crash of the tool
        problem = f"crash: {type(e).__name__}: {str(e)[:200]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    seconds = time.perf_counter() - t0
    o, e = out.getvalue(), err.getvalue()
    if not problem:
        if "Traceback (most recent call last)" in o + e:
            problem = "traceback in the output"
        elif code == 4:
            problem = "internal error: " + e.strip().splitlines()[-1][:200] if e.strip() else "internal error"
        elif code not in DOCUMENTED:
            problem = f"undocumented exit code {code!r}"
        elif code == 0 and "error:" in e:
            problem = "exit 0 with an error: " + next(line for line in e.splitlines() if "error:" in line)[:200]
    return Outcome(code, seconds, problem, o, e)
