"""k-induction with simple-path constraints, for a fixed instance.

For k = 1, 2, ...:

- base case: no state reachable in k-1 steps violates P (the BMC unrolling of
  ``checker.z3.bmc``, so the first violation found is a shortest one);
- step case: no path t0 .. tk of distinct states (simple path), all satisfying
  the inductive lemmas and the domains, with P in t0 .. t(k-1), ends in a
  state violating P.

Both unrollings are incremental: going from k to k+1 adds one state and one
transition to each solver. The lemmas (``checker.z3.houdini``) are invariants
proved separately, so assuming them in every state of the step case is sound;
they are what makes P k-inductive for a small k.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import z3
from dmabuf_check.checker.z3.bmc import Unroller
from dmabuf_check.checker.z3.encode import FixedSystem, State
from dmabuf_check.checker.z3.proof import PROVED, UNKNOWN, VIOLATED, Deadline
from dmabuf_check.properties.base import Property


@dataclass
class KindOutcome:
    status: str
    k: int
    path: list[int]  # a shortest counterexample when violated
    note: str = ""


@dataclass
class KindProgress:
    k: int
    seconds: float


def kinduction(system: FixedSystem, prop: Property, lemmas: z3.BoolRef, max_k: int, deadline: Deadline,
               progress: Callable[[KindProgress], None] | None = None) -> KindOutcome:
    """Prove ``prop`` by k-induction for k up to ``max_k``, or find a shortest violation."""
    t0 = time.perf_counter()
    base = Unroller(system, deadline)
    step = z3.Solver()
    steps: list[State] = [system.state("#0")]

    def assume(s: State) -> None:
        step.add(system.type_invariant(s), system.at(lemmas, s))

    assume(steps[0])
    for k in range(1, max_k + 1):
        # base case: depth k-1
        if k > 1:
            base.extend()
        r, path = base.reach(z3.Not(system.prop(prop, base.states[-1])))
        if r == z3.sat:
            return KindOutcome(VIOLATED, k, path)
        if r == z3.unknown:
            return KindOutcome(UNKNOWN, k, [], f"base case at depth {k - 1}: z3 {base.solver.reason_unknown()}")
        # step case: t0 .. tk
        prev = steps[-1]
        t = system.state(f"#{k}")
        step.add(system.prop(prop, prev), system.trans(prev, t, z3.Int(f"sel#{k - 1}")))
        assume(t)
        for s in steps:
            step.add(system.distinct(s, t))
        steps.append(t)
        step.push()
        step.add(z3.Not(system.prop(prop, t)))
        deadline.arm(step)
        r = step.check()
        step.pop()
        if progress:
            progress(KindProgress(k, time.perf_counter() - t0))
        if r == z3.unsat:
            return KindOutcome(PROVED, k, [])
        if r == z3.unknown:
            return KindOutcome(UNKNOWN, k, [], f"step case at k={k}: z3 {step.reason_unknown()}")
    return KindOutcome(UNKNOWN, max_k, [], f"not k-inductive for k ≤ {max_k} (raise --depth, or add lemmas)")
