"""Independent re-checks of proof certificates for a fixed instance.

An engine's claim is not trusted: before ``proved`` is reported, a translation
of the model of its own (a ``FixedSystem`` other than the engines', built once
per prove run and shared by its certificates) and fresh solvers discharge

- Init ⇒ I,  I ∧ T ⇒ I',  I ⇒ P   for an inductive invariant I, where I
  always includes the domain constraints (so nothing is assumed);
- for a k-inductive certificate additionally the base case (no violation in
  the first k-1 steps) and the step case (k consecutive P-states on a simple
  path, all satisfying I, are followed by a P-state).

The invariant travels as a z3 formula over constants named after the slots,
which the fresh system's constants are too, so it means the same there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import z3
from dmabuf_check.checker.z3.encode import FixedSystem, State
from dmabuf_check.checker.z3.model_text import SlotNamer
from dmabuf_check.checker.z3.proof import Certificate, Deadline
from dmabuf_check.model.lang import Model
from dmabuf_check.properties.base import Property


def _valid(claim: z3.BoolRef, deadline: Deadline, *assumptions: z3.BoolRef) -> z3.CheckSatResult:
    """unsat of assumptions ∧ ¬claim (i.e. the claim is valid) -> z3.unsat."""
    s = z3.Solver()
    deadline.arm(s)
    s.add(*assumptions)
    s.add(z3.Not(claim))
    return s.check()


def render(system: FixedSystem, formula: z3.BoolRef) -> list[str]:
    """A z3 invariant over the slots, one conjunct per line, in the model's vocabulary."""
    namer = SlotNamer({name: v for name, (v, _) in zip(system.layout.slot_names, system.layout.slot_vars)})
    f = z3.simplify(formula)
    parts = f.children() if z3.is_and(f) else [f]
    return [namer.show(p) for p in parts]


def check_inductive(model: Model, invariant: z3.BoolRef, prop: Property, deadline: Deadline,
                    fresh: FixedSystem | None = None) -> tuple[bool, str]:
    """(accepted, reason) for the certificate 'invariant ∧ domains is inductive and implies prop'."""
    fresh = fresh or FixedSystem(model)
    cur, nxt = fresh.cur, fresh.nxt
    inv = z3.And(invariant, fresh.type_invariant(cur))
    inv_next = fresh.at(inv, nxt)
    checks = [
        ("Init ⇒ I", _valid(inv, deadline, fresh.init(cur))),
        ("I ∧ T ⇒ I'", _valid(inv_next, deadline, inv, fresh.trans(cur, nxt, fresh.sel))),
        ("I ⇒ P", _valid(fresh.prop(prop, cur), deadline, inv)),
    ]
    for what, r in checks:
        if r != z3.unsat:
            return False, f"{what} {'fails' if r == z3.sat else 'undecided (' + str(r) + ')'}"
    return True, ""


def check_k_inductive(model: Model, invariant: z3.BoolRef, prop: Property, k: int,
                      deadline: Deadline, fresh: FixedSystem | None = None) -> tuple[bool, str]:
    """(accepted, reason) for 'invariant is inductive, and prop is k-inductive relative to it'."""
    fresh = fresh or FixedSystem(model)
    cur, nxt = fresh.cur, fresh.nxt
    inv = z3.And(invariant, fresh.type_invariant(cur))
    r = _valid(fresh.at(inv, nxt), deadline, inv, fresh.trans(cur, nxt, fresh.sel))
    if r != z3.unsat:
        return False, "the lemmas are not inductive"
    if _valid(inv, deadline, fresh.init(cur)) != z3.unsat:
        return False, "the initial state violates the lemmas"
    states: list[State] = [fresh.state(f"#b{j}") for j in range(k)]
    path = [fresh.init(states[0])] + [fresh.trans(states[j], states[j + 1], z3.Int(f"sel#b{j}")) for j in range(k - 1)]
    if _valid(z3.And(*[fresh.prop(prop, s) for s in states]), deadline, *path) != z3.unsat:
        return False, f"base case: a violation within {k - 1} steps"
    steps: list[State] = [fresh.state(f"#s{j}") for j in range(k + 1)]
    hyp = [fresh.trans(steps[j], steps[j + 1], z3.Int(f"sel#s{j}")) for j in range(k)]
    hyp += [fresh.at(inv, s) for s in steps]
    hyp += [fresh.prop(prop, s) for s in steps[:-1]]
    hyp += [fresh.distinct(a, b) for x, a in enumerate(steps) for b in steps[x + 1:]]
    if _valid(fresh.prop(prop, steps[-1]), deadline, *hyp) != z3.unsat:
        return False, f"step case fails for k={k}"
    return True, ""


def certify(model: Model, system: FixedSystem, prop: Property, texts: Sequence[str], invariant: z3.BoolRef,
            spacer_part: z3.BoolRef | None, k: int, deadline: Deadline,
            fresh: FixedSystem | None = None) -> Certificate:
    """Build and independently check the certificate of a fixed-N proof.

    ``invariant`` is the whole candidate I (lemmas, and the property itself
    when it was proved 1-inductive), ``texts`` its conjuncts in model
    vocabulary; ``spacer_part`` a further conjunct found by Spacer, rendered here. ``fresh`` is the
    checking translation (a ``FixedSystem`` of the model other than ``system``, which may be shared
    by the certificates of one run); by default a new one.
    """
    t0 = time.perf_counter()
    if spacer_part is not None:
        invariant = z3.And(invariant, spacer_part)
        texts = list(texts) + render(system, spacer_part)
    if k <= 1:
        ok, why = check_inductive(model, invariant, prop, deadline, fresh)
        cert = Certificate("inductive", list(texts), 1, ok, 0.0, ["Init ⇒ I", "I ∧ T ⇒ I'", "I ⇒ P"])
    else:
        ok, why = check_k_inductive(model, invariant, prop, k, deadline, fresh)
        cert = Certificate("k-inductive", list(texts), k, ok, 0.0,
                           ["Init ⇒ I", "I ∧ T ⇒ I'", f"base: no violation in {k - 1} steps",
                            f"step: {k} P-states on a simple path ⇒ P"])
    cert.check_seconds = time.perf_counter() - t0
    if not ok:
        cert.obligations.append(f"rejected: {why}")
    return cert
