"""Houdini for a fixed N: the largest inductive subset of a set of candidate lemmas.

Start from every candidate that survived the concrete filter
(``checker.z3.candidates``); ask z3 for a transition from a state satisfying all
of them to one that breaks some; drop every candidate the successor breaks;
repeat until no candidate breaks. What is left is inductive (together with
the domain constraints), so it is an invariant and may be assumed by
k-induction and by Spacer. ``protect`` lets a property be assumed in the
pre-state without being dropped (lemmas relative to the property; the caller
then checks the property itself).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import z3
from dmabuf_check.checker.z3.candidates import Candidate, falsified, filtered, generate, sample_states
from dmabuf_check.checker.z3.encode import FixedSystem
from dmabuf_check.checker.z3.proof import Deadline
from dmabuf_check.model.lang import Model
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.base import Property


@dataclass
class Lemmas:
    """The inductive candidates: their texts and their z3 form over the system's template state."""

    texts: list[str]
    formulas: list[z3.BoolRef]
    complete: bool  # False when the solver stopped (timeout/unknown) before the fixpoint
    rounds: int = 0

    def conj(self) -> z3.BoolRef:
        return z3.And(*self.formulas)


def fixed_candidates(model: Model, build: Callable[[int], Model] | None, properties: Sequence[Property],
                     exclude: str = "", filter_sizes: Sequence[int] = (1, 2, 3),
                     deadline: Deadline | None = None) -> list[Candidate]:
    """The candidates of ``model`` (= ``build(n)``) that survive concrete states of small instances and of itself.

    Without ``build`` only the model's own states filter.
    """
    n = _members(model)
    sizes = sorted({k for k in filter_sizes if k < n}) if build is not None else []
    expired = deadline.expired if deadline is not None else None
    alive = filtered(build, sizes, properties, exclude, expired=expired) if build is not None and sizes else None
    cands, atoms = generate(model, properties, exclude=exclude)
    if alive is not None:
        cands = [c for c in cands if c.text in alive]
    c = Compiled(model)
    dead = falsified(model, cands, atoms, sample_states(c, 30_000 if n <= 3 else 5_000), c, expired)
    return [x for x in cands if x.text not in dead]


def _members(model: Model) -> int:
    return next((v.index.size for v in model.variables if v.index is not None), 0)


def houdini(system: FixedSystem, candidates: Sequence[Candidate], deadline: Deadline,
            protect: z3.BoolRef | None = None) -> Lemmas:
    """The largest subset of ``candidates`` that is inductive (relative to ``protect`` if given)."""
    cur, nxt = system.cur, system.nxt
    forms: list[z3.BoolRef] = []
    texts: list[str] = []
    for k, c in enumerate(candidates):
        if k % 64 == 0 and deadline.expired():  # encoding thousands of candidates is itself slow
            return Lemmas([], [], False)
        try:
            forms.append(system.condition(c.expr, cur, f"candidate {c.text}"))
        except ModelError:
            if c.source != "user":
                raise
            continue  # a user lemma that does not type-check in this instance is no candidate
        texts.append(c.text)
    # drop candidates false in the initial state (one state: evaluate in its model)
    s0 = z3.Solver()
    s0.add(system.init(cur))
    if s0.check() != z3.sat:
        raise ModelError("the initial state violates its own domains")
    m0 = s0.model()
    live = [k for k, f in enumerate(forms) if z3.is_true(m0.eval(f, model_completion=True))]
    s = z3.Solver()
    s.add(system.type_invariant(cur), system.trans(cur, nxt, system.sel))
    if protect is not None:
        s.add(protect)
    acts = [z3.Bool(f"houdini!{k}") for k in range(len(forms))]
    post = []
    for k, f in enumerate(forms):
        if k % 64 == 0 and deadline.expired():
            return Lemmas([], [], False)
        post.append(system.at(f, nxt))
    for a, f in zip(acts, forms):
        s.add(z3.Implies(a, f))
    s.add(z3.Or(*[z3.And(a, z3.Not(p)) for a, p in zip(acts, post)]))
    rounds = 0
    while live:
        rounds += 1
        deadline.arm(s)
        live_set = set(live)
        r = s.check([acts[k] if k in live_set else z3.Not(acts[k]) for k in range(len(forms))])
        if r == z3.unsat:
            break
        if r == z3.unknown:
            return Lemmas([texts[k] for k in live], [forms[k] for k in live], False, rounds)
        m = s.model()
        broken = {k for k in live if not z3.is_true(m.eval(post[k], model_completion=True))}
        if not broken:  # cannot happen for a sound model; never loop on it
            return Lemmas([texts[k] for k in live], [forms[k] for k in live], False, rounds)
        live = [k for k in live if k not in broken]
    return Lemmas([texts[k] for k in live], [forms[k] for k in live], True, rounds)


def core_closure(base: Sequence[z3.BoolRef], goal_next: z3.BoolRef | None, pre: Sequence[z3.BoolRef],
                 post: Sequence[z3.BoolRef], deadline: Deadline, initial: Sequence[int] = ()) -> list[int] | None:
    """A small subset of inductive lemmas that still proves the goal, from unsat cores.

    ``base`` holds the transition and what is assumed in the pre-state (the
    property itself when it is part of the invariant); lemma k is ``pre[k]``
    before and ``post[k]`` after. The goal's consecution needs some lemmas (an
    unsat core), each of those needs others, and so on; the closure (with the
    lemmas ``initial``, needed for another reason) is inductive together with
    the goal, and usually far smaller than the Houdini fixpoint, which makes
    the certificate readable. None if a query fails.
    """
    s = z3.Solver()
    s.set("core.minimize", True)
    s.add(*base)
    acts = [z3.Bool(f"lemma!{k}") for k in range(len(pre))]
    for a, f in zip(acts, pre):
        s.add(z3.Implies(a, f))
    needed: list[int] = list(initial)
    seen: set[int] = set(initial)
    todo: list[z3.BoolRef] = ([goal_next] if goal_next is not None else []) + [post[k] for k in initial]
    while todo:
        goal = todo.pop()
        s.push()
        s.add(z3.Not(goal))
        deadline.arm(s)
        r = s.check(acts)
        core = s.unsat_core() if r == z3.unsat else None
        s.pop()
        if core is None:
            return None
        for a in core:
            k = acts.index(a)  # type: ignore[arg-type]
            if k not in seen:
                seen.add(k)
                needed.append(k)
                todo.append(post[k])
    return sorted(needed)


def implied_by(assumptions: Sequence[z3.BoolRef], goal: z3.BoolRef, lemmas: Sequence[z3.BoolRef],
               deadline: Deadline) -> list[int] | None:
    """The lemmas an unsat core of assumptions ∧ lemmas ∧ ¬goal uses (None unless unsat)."""
    s = z3.Solver()
    s.set("core.minimize", True)
    s.add(*assumptions, z3.Not(goal))
    acts = [z3.Bool(f"lemma!{k}") for k in range(len(lemmas))]
    for a, f in zip(acts, lemmas):
        s.add(z3.Implies(a, f))
    deadline.arm(s)
    if s.check(acts) != z3.unsat:
        return None
    return sorted(acts.index(a) for a in s.unsat_core())  # type: ignore[arg-type]
