"""Replay: re-validate a saved trace against the model it names.

A trace is only evidence if the current model still produces it. Replay
rebuilds the model instance from the registry, fires every recorded action
instance through the compiled model and checks, in order:

1. the recorded initial state is the model's initial state;
2. every step is enabled in the state before it;
3. every recorded state (and its list of changed variables) equals the
   recomputed one;
4. the named property is violated: by the final state for an invariant, by a
   final state with no enabled action that is not a valid end for
   no-stuck-state, and for a lasso, the loop closes, is fair to every fence
   signal, and starves the fence or wait the liveness property names.

The first divergent step is reported with the variables that differ. A file
that cannot be used at all (bad JSON, another schema, unknown model or action)
raises a TraceError instead: that is a bad input, not a failed replay.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from dmabuf_check.properties.base import LIVENESS
from dmabuf_check.traces.evaluate import Judge
from dmabuf_check.traces.format import Trace, load


@dataclass
class Divergence:
    """Where a trace and the model part ways."""

    step: int  # 0: the initial state; k: step k (1-based)
    label: str  # the action instance of that step ("" for the initial state)
    reason: str
    differences: list[tuple[str, object, object]] = field(default_factory=list)  # (slot, recorded, model)

    def describe(self) -> str:
        where = "initial state" if self.step == 0 else f"step {self.step} ({self.label})"
        diffs = "; ".join(f"{slot}: trace has {rec!r}, model gives {got!r}" for slot, rec, got in self.differences[:6])
        more = f" (and {len(self.differences) - 6} more)" if len(self.differences) > 6 else ""
        return f"{where}: {self.reason}" + (f": {diffs}{more}" if diffs else "")


@dataclass
class ReplayReport:
    """The outcome of replaying one trace."""

    trace: Trace
    steps_checked: int
    divergence: Divergence | None
    reproduced: bool  # the named property is violated where the trace says
    message: str
    wait_cycle: list[tuple[str, str, str]] = field(default_factory=list)  # recomputed, for deadlock traces

    @property
    def ok(self) -> bool:
        return self.divergence is None and self.reproduced

    def summary(self) -> str:
        head = f"{self.trace.title()}, {self.trace.property.id}, {self.trace.length} steps"
        if self.divergence is not None:
            return f"replay diverged at {self.divergence.describe()} [{head}]"
        if not self.reproduced:
            return f"replay did not reproduce the violation: {self.message} [{head}]"
        return f"replay ok: {self.message} [{head}]"


def _diff(recorded: dict[str, object], model: dict[str, object]) -> list[tuple[str, object, object]]:
    """Slot-level differences between a recorded state and the model's (missing keys count)."""
    out: list[tuple[str, object, object]] = []
    for name in list(model) + [k for k in recorded if k not in model]:
        rec, got = recorded.get(name, "<missing>"), model.get(name, "<not a model variable>")
        if isinstance(rec, list) and isinstance(got, list) and len(rec) == len(got):
            out += [(f"{name}[{m}]", a, b) for m, (a, b) in enumerate(zip(rec, got), 1) if a != b]
        elif rec != got:
            out.append((name, rec, got))
    return out


def replay(trace: Trace) -> ReplayReport:
    """Re-validate ``trace`` against the model it names (see the module doc for what is checked)."""
    judge = Judge.for_trace(trace)
    c, lay = judge.c, judge.c.layout
    # resolve every step before firing any, so an unknown action is reported as a bad file up front
    instances = [judge.instance(s.action, s.params) for s in trace.steps]

    def report(checked: int, div: Divergence | None, reproduced: bool, msg: str, cyc=None) -> ReplayReport:
        return ReplayReport(trace, checked, div, reproduced, msg, cyc or [])

    diffs = _diff(trace.initial, lay.decode(c.initial))
    if diffs:
        return report(0, Divergence(0, "", "the recorded initial state is not the model's", diffs), False, "")
    s = c.initial
    states = [s]
    for n, (step, k) in enumerate(zip(trace.steps, instances), 1):
        label = c.instances[k].label
        nxt = c.step(s, k)
        if nxt is None:
            return report(n - 1, Divergence(n, label, "the action is not enabled in the state before it"), False, "")
        diffs = _diff(step.state, lay.decode(nxt))
        if diffs:
            return report(n - 1, Divergence(n, label, "the recorded state differs from the model's", diffs), False, "")
        changed = {lay.slot_names[i]: lay.decode_slot(i, nxt[i]) for i in range(lay.size) if s[i] != nxt[i]}
        if changed != step.changed:
            diffs = [(k2, step.changed.get(k2, "<unchanged>"), changed.get(k2, "<unchanged>"))
                     for k2 in sorted(set(changed) | set(step.changed)) if changed.get(k2) != step.changed.get(k2)]
            why = "the recorded list of changed variables is wrong"
            return report(n - 1, Divergence(n, label, why, diffs), False, "")
        s = nxt
        states.append(s)

    cyc = judge.wait_cycle(s) if judge.prop.id == "no-fence-wait-deadlock" else []
    n = len(trace.steps)
    pid = trace.property.id
    if trace.loop is not None:
        problems = judge.lasso_problems(states, instances, trace.loop)
        if judge.kind == LIVENESS:
            if problems:
                return report(n, None, False, "; ".join(problems))
            return report(n, None, True, f"the loop from state {trace.loop} closes, is fair, and violates {pid}")
        hit = next((k for k, st in enumerate(states) if judge.violates(st)), None)
        if hit is None:
            return report(n, None, False, f"no state of the lasso violates {pid}")
        return report(n, None, True, f"state {hit} of the lasso violates {pid}", cyc)
    if judge.kind == LIVENESS:
        return report(n, None, False, f"{pid} is a liveness property: its counterexample must be a lasso "
                                      "(loop is null)")
    if not judge.violates(s):
        return report(n, None, False, f"the final state satisfies {pid}")
    what = "deadlocks (no action enabled, not a valid end)" if judge.kind == "deadlock" else f"violates {pid}"
    return report(n, None, True, f"all {n} steps match the model and the final state {what}", cyc)


def replay_file(path: str | os.PathLike[str]) -> ReplayReport:
    """Load and replay a trace file (TraceError if the file is unusable)."""
    return replay(load(path))
