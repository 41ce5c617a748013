"""Shrinking: make a counterexample as short and as small as it can be, keeping its violation.

Breadth-first search already returns shortest traces, but depth-first search,
random simulation and lassos do not, and a trace edited by hand rarely is. A
short trace is the difference between a bug report a kernel engineer reads and
one they skip. Shrinking works on the list of action instances:

1. delta debugging (Zeller's ddmin) over the steps: drop chunks, then single
   steps, while the remaining steps are all enabled and still reach a state
   that violates the property (the trace is cut at the first such state);
2. for each importer: drop all of its steps (and its fence's signals), renumber
   the importers above it, rebuild the model with one importer fewer, and keep
   the result if the property is still violated; then ddmin again.

For a liveness lasso the loop is kept closed and fair: the prefix is shrunk
with the loop fixed, then the loop with the prefix fixed. A lasso that
violates a safety property is flattened into a finite trace first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.base import LIVENESS
from dmabuf_check.traces.evaluate import Judge, build_model, find_property, from_instances
from dmabuf_check.traces.format import Trace, TraceError
from dmabuf_check.traces.replay import replay

Move = tuple[str, tuple[int, ...]]  # action name, 1-based members


class ShrinkError(TraceError):
    """The trace cannot be shrunk because it does not replay (shrinking starts from a valid trace)."""


@dataclass
class ShrinkReport:
    trace: Trace  # the shrunk trace
    steps_before: int
    steps_after: int
    importers_before: int
    importers_after: int
    dropped_importers: list[int] = field(default_factory=list)  # numbers in the original trace
    tests: int = 0  # candidate traces tried

    @property
    def removed_steps(self) -> int:
        return self.steps_before - self.steps_after

    def summary(self) -> str:
        pct = 100.0 * self.removed_steps / self.steps_before if self.steps_before else 0.0
        text = f"removed {self.removed_steps} of {self.steps_before} steps ({pct:.0f}%), {self.steps_after} left"
        if self.dropped_importers:
            who = ", ".join(map(str, self.dropped_importers))
            text += (f"; dropped importer{'s' if len(self.dropped_importers) > 1 else ''} {who} "
                     f"({self.importers_before} -> {self.importers_after} importers)")
        return text + f"; {self.tests} candidates tried"


class _Shrinker:
    def __init__(self, trace: Trace):
        self.trace = trace
        self.prop = find_property(trace.model, trace.property.id)
        self.judges: dict[int, Judge] = {}
        self.tests = 0

    def judge(self, importers: int) -> Judge | None:
        if importers not in self.judges:
            try:
                model = build_model(self.trace.model, {**self.trace.params, "importers": importers})
            except TraceError:
                return None
            self.judges[importers] = Judge(model, self.prop)
        return self.judges[importers]

    def fire(self, judge: Judge, moves: list[Move]) -> tuple[list[int], list[bytes]] | None:
        """Instances and states along ``moves``, or None when one is disabled or does not exist."""
        c = judge.c
        s = c.initial
        states, ks = [s], []
        for name, members in moves:
            try:
                k = c.instance_index(name, tuple(m - 1 for m in members))
            except ModelError:
                return None
            s = c.step(s, k)
            if s is None:
                return None
            ks.append(k)
            states.append(s)
        return ks, states

    def safety(self, importers: int) -> Callable[[list[Move]], list[Move] | None]:
        """Candidate test for a safety property: the moves cut at the first violating state, or None."""
        def test(moves: list[Move]) -> list[Move] | None:
            self.tests += 1
            judge = self.judge(importers)
            fired = judge and self.fire(judge, moves)
            if not fired:
                return None
            hit = next((k for k, s in enumerate(fired[1]) if judge.violates(s)), None)  # type: ignore[union-attr]
            return None if hit is None else moves[:hit]
        return test

    def lasso_ok(self, importers: int, prefix: list[Move], loop: list[Move]) -> bool:
        self.tests += 1
        judge = self.judge(importers)
        if judge is None:
            return False
        fired = self.fire(judge, prefix + loop)
        return bool(fired) and not judge.lasso_problems(fired[1], fired[0], len(prefix))  # type: ignore[index]


def ddmin(items: list[Move], test: Callable[[list[Move]], list[Move] | None]) -> list[Move]:
    """Zeller's ddmin: a 1-minimal sub-list for which ``test`` still fails (returns the possibly cut list)."""
    cur = test(items)
    if cur is None:
        return items
    n = 2
    while len(cur) >= 2:
        size = -(-len(cur) // n)
        chunks = [cur[i:i + size] for i in range(0, len(cur), size)]
        for k in range(len(chunks)):
            found = test(chunks[k]) if n > 2 else None  # a lone chunk is worth a try once chunks are small
            if found is None:
                found = test([x for j, ch in enumerate(chunks) if j != k for x in ch])
            if found is not None:
                cur, n = found, max(n - 1, 2)
                break
        else:
            if n >= len(cur):
                break
            n = min(2 * n, len(cur))
    if len(cur) == 1 and test([]) is not None:  # ddmin proper never tries the empty list
        cur = []
    return cur


PAIR_LIMIT = 64  # traces up to this length also get the quadratic pair-removal pass


def minimise(items: list[Move], test: Callable[[list[Move]], list[Move] | None]) -> list[Move]:
    """ddmin, then remove pairs of steps until no pair can go, then ddmin again.

    ddmin only guarantees that no *single* step can be removed; a lock taken
    and released for nothing (exp_lock, exp_unlock) must go as a pair.
    """
    cur = ddmin(items, test)
    changed = True
    while changed and 2 <= len(cur) <= PAIR_LIMIT:
        changed = False
        for i in range(len(cur)):
            for j in range(i + 1, len(cur)):
                found = test(cur[:i] + cur[i + 1:j] + cur[j + 1:])
                if found is not None:
                    cur, changed = ddmin(found, test), True
                    break
            if changed:
                break
    return cur


def _without(moves: list[Move], m: int) -> list[Move]:
    """The moves with importer ``m``'s steps removed and the importers above it renumbered."""
    out = []
    for name, members in moves:
        if m in members:
            continue
        out.append((name, tuple(x - 1 if x > m else x for x in members)))
    return out


def shrink(trace: Trace, *, drop_importers: bool = True) -> ShrinkReport:
    """Shrink ``trace`` (see the module doc); raises ShrinkError if it does not replay."""
    rep = replay(trace)
    if not rep.ok:
        raise ShrinkError(f"cannot shrink a trace that does not replay: {rep.summary()}")
    sh = _Shrinker(trace)
    importers = int(trace.params.get("importers", 0) or 0)
    moves: list[Move] = [(s.action, tuple(s.params)) for s in trace.steps]
    dropped: list[int] = []
    original_numbers = list(range(1, importers + 1))  # current importer k is original_numbers[k - 1]
    liveness = sh.prop.kind == LIVENESS and trace.loop is not None

    if liveness:
        prefix, loop = moves[:trace.loop], moves[trace.loop:]

        def both(prefix: list[Move], loop: list[Move], n: int) -> tuple[list[Move], list[Move]]:
            prefix = minimise(prefix, lambda p: p if sh.lasso_ok(n, p, loop) else None) if prefix else prefix
            loop = minimise(loop, lambda lp: lp if sh.lasso_ok(n, prefix, lp) else None) if loop else loop
            return prefix, loop

        prefix, loop = both(prefix, loop, importers)
        while drop_importers and importers > 1:
            for m in range(importers, 0, -1):
                p2, l2 = _without(prefix, m), _without(loop, m)
                if sh.lasso_ok(importers - 1, p2, l2):
                    prefix, loop = both(p2, l2, importers - 1)
                    dropped.append(original_numbers.pop(m - 1))
                    importers -= 1
                    break
            else:
                break
        final, loop_at = prefix + loop, len(prefix)
    else:
        moves = minimise(moves, sh.safety(importers))
        while drop_importers and importers > 1:
            for m in range(importers, 0, -1):
                cut = sh.safety(importers - 1)(_without(moves, m))
                if cut is not None:
                    moves = minimise(cut, sh.safety(importers - 1))
                    dropped.append(original_numbers.pop(m - 1))
                    importers -= 1
                    break
            else:
                break
        final, loop_at = moves, None

    judge = sh.judge(importers)
    assert judge is not None
    fired = sh.fire(judge, final)
    assert fired is not None, "shrinking kept only candidates that replay"
    before = int(trace.params.get("importers", 0) or 0)
    report = ShrinkReport(trace, trace.length, len(final), before, importers, sorted(dropped), sh.tests)
    note = f"shrunk from {trace.length} steps" + (f", {before} importers" if dropped else "")
    report.trace = from_instances(judge, fired[0], loop=loop_at, like=trace, note=note)
    return report
