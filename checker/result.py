"""Results as plain data: what a check found, serialisable to JSON.

Rendering (terminal tables, traces, SARIF ...) reads these objects and never
computes anything the checker did not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

HOLDS = "holds"
VIOLATED = "violated"
UNKNOWN = "unknown"  # the run ended before the property was decided

RESULT_SCHEMA = "dmabuf-check result v1"


@dataclass
class Step:
    """One action of a counterexample: the instance fired and the state it produced."""

    action: str
    params: list[int]  # members, 1-based as users read them
    actor: str  # exporter, importer 2, hardware ...
    kernel: str  # the kernel call the action stands for
    state: dict[str, object]
    changed: dict[str, object]

    @property
    def label(self) -> str:
        return self.action if not self.params else f"{self.action}({', '.join(map(str, self.params))})"


@dataclass
class Counterexample:
    """A path from the initial state to a violation of ``property``.

    For a safety property it is a shortest path to a violating state; for a
    liveness property it is a lasso: a prefix and a fair cycle on which the
    awaited event never happens.
    """

    property: str
    initial: dict[str, object]
    steps: list[Step]
    detail: str = ""  # e.g. the wait-for cycle found in the last state
    # a lasso (liveness): the state after the last step equals state ``loop``
    # (0 is the initial state, k the state after step k); None for a finite path
    loop: int | None = None

    @property
    def length(self) -> int:
        return len(self.steps)


@dataclass
class Verdict:
    property: str
    meaning: str
    rules: list[str]
    status: str
    counterexample: Counterexample | None = None
    note: str = ""

    def __repr__(self) -> str:  # short, so ``assert result.ok, result.violated`` stays readable
        steps = f", {self.counterexample.length} steps" if self.counterexample is not None else ""
        return f"<Verdict {self.property}: {self.status}{steps} ({', '.join(self.rules)})>"


@dataclass
class CheckResult:
    """Everything a run measured and decided."""

    model: str
    params: dict[str, object]
    engine: str
    symmetry: bool
    verdicts: list[Verdict]
    states: int = 0
    transitions: int = 0
    depth: int = 0
    seconds: float = 0.0
    compile_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    bytes_per_state: float = 0.0
    complete: bool = True  # False when a limit ended the search early
    stop_reason: str = ""
    coverage: dict[str, int] = field(default_factory=dict)  # action instance -> times it fired
    action_coverage: dict[str, int] = field(default_factory=dict)  # action -> times any instance fired
    end_states: int = 0  # states satisfying the model's valid-end predicate

    def __repr__(self) -> str:  # one line: what was checked and what it found (the fields hold the rest)
        params = ", ".join(f"{k}={v}" for k, v in self.params.items() if v is not None)
        bad = [v.property for v in self.violated]
        found = f"violated: {', '.join(bad)}" if bad else ("all hold" if self.ok else self.stop_reason or "undecided")
        return f"<CheckResult {self.model} ({params}): {found}; {self.states:,} states>"

    @property
    def ok(self) -> bool:
        return self.complete and all(v.status == HOLDS for v in self.verdicts)

    @property
    def violated(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == VIOLATED]

    @property
    def vacuous(self) -> list[str]:
        """Actions (instances, without symmetry) that never fired in a finished search.

        A guard that is never true is a modelling smell. Under symmetry only
        orbit representatives are expanded, so instances are not comparable
        and whole actions are reported instead.
        """
        if not self.complete or self.stop_reason or self.violated:
            return []
        table = self.action_coverage if self.symmetry else self.coverage
        return [k for k, n in table.items() if n == 0]

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    def verdict(self, prop: str) -> Verdict:
        for v in self.verdicts:
            if v.property == prop:
                return v
        raise KeyError(prop)

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["schema"] = RESULT_SCHEMA
        d["ok"] = self.ok
        d["vacuous"] = self.vacuous
        d["states_per_second"] = round(self.states_per_second, 1)
        return d
