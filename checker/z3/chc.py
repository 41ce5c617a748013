"""Unbounded proofs for a fixed instance as constrained Horn clauses, solved by z3's Spacer.

The clauses, over one unknown predicate Inv of a state:

    Inv(s)                 <- Init(s)
    Inv(post_k(s))         <- Inv(s) ∧ L(s) ∧ D(s) ∧ enabled_k(s)       (one rule per action instance k)
    false                  <- Inv(s) ∧ L(s) ∧ ¬P(s)

where L are lemmas already proved inductive (``checker.z3.houdini``; none with
``--no-lemmas``) and D the domain constraints. Spacer answers *safe* with an
interpretation of Inv, which with L is the certificate (re-checked by
``checker.z3.certificate``), or *unsafe* (BMC then produces the shortest
counterexample), or runs out of time (unknown).

Spacer runs in a worker thread so the caller can show a live status line; the
z3 call releases the interpreter lock, and the main thread touches no z3 object
until it returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import z3
from dmabuf_check.checker.z3.encode import FixedSystem
from dmabuf_check.checker.z3.proof import PROVED, UNKNOWN, VIOLATED, Deadline
from dmabuf_check.properties.base import Property


@dataclass
class ChcOutcome:
    status: str
    invariant: z3.BoolRef | None  # over the system's template state, when safe
    frames: int  # Spacer's deepest level
    note: str = ""


@dataclass
class ChcProgress:
    seconds: float


def spacer(system: FixedSystem, prop: Property, lemmas: z3.BoolRef, deadline: Deadline,
           progress: Callable[[ChcProgress], None] | None = None) -> ChcOutcome:
    """Solve the safety problem of ``prop`` with Spacer."""
    s = system.cur
    inv = z3.Function("Inv", *[x.sort() for x in s], z3.BoolSort())
    hyp = z3.And(lemmas, system.type_invariant(s))
    fp = z3.SolverFor("HORN")
    deadline.arm(fp)
    fp.add(z3.ForAll(s, z3.Implies(system.init(s), inv(*s))))
    for k in range(len(system.instances)):
        enabled, post = system.instance_relation(k, s)
        fp.add(z3.ForAll(s, z3.Implies(z3.And(inv(*s), hyp, enabled), inv(*post))))
    fp.add(z3.ForAll(s, z3.Implies(z3.And(inv(*s), hyp, z3.Not(system.prop(prop, s))), False)))

    answer: list[z3.CheckSatResult] = []
    worker = threading.Thread(target=lambda: answer.append(fp.check()), daemon=True)
    t0 = time.perf_counter()
    worker.start()
    while worker.is_alive():
        worker.join(0.25)
        if progress:
            progress(ChcProgress(time.perf_counter() - t0))
    r = answer[0] if answer else z3.unknown
    frames = _frames(fp)
    if r == z3.sat:
        # no model_completion: with it z3 evaluates Spacer's Inv to True
        return ChcOutcome(PROVED, _quantifier_free(fp.model().eval(inv(*s))), frames)
    if r == z3.unsat:
        return ChcOutcome(VIOLATED, None, frames)
    return ChcOutcome(UNKNOWN, None, frames, f"Spacer: {fp.reason_unknown()}")


def _quantifier_free(f: z3.BoolRef) -> z3.BoolRef:
    """Spacer's invariant without the existentials it sometimes keeps (readable certificates); as is if qe fails."""
    if "Exists" not in str(f):
        return f
    try:
        goal = z3.Tactic("qe")(f)
        return z3.And(*[g.as_expr() for g in goal])  # type: ignore[return-value]
    except z3.Z3Exception:
        return f


def _frames(fp: z3.Solver) -> int:
    st = fp.statistics()
    for key in st.keys():
        if key == "SPACER max depth":
            return int(st.get_key_value(key))
    return 0
