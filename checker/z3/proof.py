"""Results of the z3 back ends, as plain data.

A proof is reported only with a certificate that an independent z3 query
accepted; a violation only with a counterexample replayed through the
compiled model (``checker.paths``); everything else is ``unknown`` with the
reason (solver timeout, depth limit, a construct outside the decidable
fragment).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from dmabuf_check.checker.result import Counterexample

PROVED = "proved"
VIOLATED = "violated"
UNKNOWN = "unknown"

PROOF_SCHEMA = "dmabuf-check proof v1"


@dataclass
class Certificate:
    """Why a property holds: an inductive invariant in the model's own names, re-checked.

    ``kind`` is ``inductive`` (Init => I, I and T => I', I => P, each checked
    by a fresh solver) or ``k-inductive`` (P is k-inductive under the
    inductive lemmas ``invariant``; base and step case re-checked).
    """

    kind: str
    invariant: list[str]
    k: int = 1
    checked: bool = False
    check_seconds: float = 0.0
    obligations: list[str] = field(default_factory=list)  # what the independent check discharged


@dataclass
class StateView:
    """One state of a counterexample to induction, in model vocabulary."""

    importers: int
    values: dict[str, object]


@dataclass
class CTI:
    """A counterexample to induction: a state satisfying the candidate invariant with a successor that breaks it."""

    before: StateView
    action: str
    after: StateView
    strengthening: list[str]  # the invariant the 'before' state satisfies


@dataclass
class ProofResult:
    """The outcome of one property with one engine."""

    property: str
    status: str
    engine: str
    importers: int | None  # None: for every number of importers
    seconds: float = 0.0
    depth: int = 0  # BMC depth reached / k of k-induction / Spacer frames
    certificate: Certificate | None = None
    counterexample: Counterexample | None = None
    cti: CTI | None = None
    note: str = ""
    outside: bool = False  # unknown because the property lies outside the engine's fragment (not a limit)

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["schema"] = PROOF_SCHEMA
        return d


class Deadline:
    """A wall-clock budget shared by the queries of one run; each query gets what is left."""

    def __init__(self, seconds: float | None):
        import time

        self._time = time.monotonic
        self.end = None if seconds is None else self._time() + seconds

    def remaining_ms(self) -> int:
        if self.end is None:
            return 0  # z3: no timeout
        return max(1, int((self.end - self._time()) * 1000))

    def share(self, fraction: float) -> Deadline:
        """A deadline ``fraction`` of the time left from now (this one if it has no end)."""
        if self.end is None:
            return self
        part = Deadline(None)
        part.end = self._time() + fraction * max(0.0, self.end - self._time())
        return part

    def capped(self, seconds: float) -> Deadline:
        """This deadline, or ``seconds`` from now if that comes first."""
        part = Deadline(seconds)
        if self.end is not None and self.end < part.end:  # type: ignore[operator]
            part.end = self.end
        return part

    def expired(self) -> bool:
        return self.end is not None and self._time() >= self.end

    def arm(self, solver) -> None:
        """Set the solver's timeout to the time left (z3 solvers and fixedpoints take 'timeout' in ms)."""
        if self.end is not None:
            solver.set("timeout", self.remaining_ms())
