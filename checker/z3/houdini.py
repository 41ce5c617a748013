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
    post: list[z3.BoolRef] | None = None  # the formulas in the successor state (``system.nxt``), when known
    members: list[int] | None = None  # their numbers in the ``HoudiniRun`` that found them

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


class HoudiniRun:
    """Houdini over one list of candidates, kept for further fixpoints.

    The candidates are encoded once; the solver holds every candidate behind
    an activation literal, so a fixpoint can be computed from any subset of
    them by assumptions alone (``fixpoint(start)``). The largest inductive
    subset is unique, so a fixpoint started from a set containing it (the
    fixpoint of a larger candidate set minus one candidate, or a fixpoint cut
    short by a deadline) is the one a fresh run would find. Encoding resumes
    where a deadline stopped it.
    """

    def __init__(self, system: FixedSystem, candidates: Sequence[Candidate], protect: z3.BoolRef | None = None):
        self.system = system
        self.candidates = list(candidates)
        self.protect = protect
        self.forms: list[z3.BoolRef] = []
        self.texts: list[str] = []
        self.position: list[int] = []  # candidate number of each encoded formula
        self.post: list[z3.BoolRef] = []  # each formula in the successor state
        self.initial: list[int] | None = None  # the formulas true in the initial state
        self.solver: z3.Solver | None = None
        self.acts: list[z3.BoolRef] = []
        self._encoded = 0

    def _prepare(self, deadline: Deadline) -> bool:
        """Encode the candidates and set up the solver; False when the deadline stopped it (resumable)."""
        if self.solver is not None:
            return True
        cur, nxt = self.system.cur, self.system.nxt
        while self._encoded < len(self.candidates):
            k = self._encoded
            if k % 64 == 0 and deadline.expired():  # encoding thousands of candidates is itself slow
                return False
            c = self.candidates[k]
            self._encoded += 1
            try:
                f = self.system.condition(c.expr, cur, f"candidate {c.text}")
            except ModelError:
                if c.source != "user":
                    raise
                continue  # a user lemma that does not type-check in this instance is no candidate
            self.forms.append(f)
            self.texts.append(c.text)
            self.position.append(k)
        if self.initial is None:
            # drop candidates false in the initial state (one state: evaluate in its model)
            s0 = z3.Solver()
            s0.add(self.system.init(cur))
            if s0.check() != z3.sat:
                raise ModelError("the initial state violates its own domains")
            m0 = s0.model()
            self.initial = [k for k, f in enumerate(self.forms) if z3.is_true(m0.eval(f, model_completion=True))]
        while len(self.post) < len(self.forms):
            k = len(self.post)
            if k % 64 == 0 and deadline.expired():
                return False
            self.post.append(self.system.at(self.forms[k], nxt))
        s = z3.Solver()
        s.add(self.system.type_invariant(cur), self.system.trans(cur, nxt, self.system.sel))
        if self.protect is not None:
            s.add(self.protect)
        self.acts = [z3.Bool(f"houdini!{k}") for k in range(len(self.forms))]
        for a, f in zip(self.acts, self.forms):
            s.add(z3.Implies(a, f))
        s.add(z3.Or(*[z3.And(a, z3.Not(p)) for a, p in zip(self.acts, self.post)]))
        self.solver = s
        return True

    def lemmas(self, live: Sequence[int], complete: bool, rounds: int = 0) -> Lemmas:
        return Lemmas([self.texts[k] for k in live], [self.forms[k] for k in live], complete, rounds,
                      [self.post[k] for k in live] if complete else None, list(live))

    def fixpoint(self, deadline: Deadline, start: Sequence[int] | None = None) -> Lemmas:
        """The largest inductive subset of the formulas ``start`` (numbers into ``forms``; default: all of
        them true initially). ``Lemmas.members`` are the numbers of the result, also when cut short."""
        if not self._prepare(deadline):
            return Lemmas([], [], False)
        assert self.solver is not None and self.initial is not None
        s = self.solver
        live = list(self.initial) if start is None else sorted(set(start) & set(self.initial))
        rounds = 0
        while live:
            rounds += 1
            deadline.arm(s)
            live_set = set(live)
            r = s.check([self.acts[k] if k in live_set else z3.Not(self.acts[k]) for k in range(len(self.forms))])
            if r == z3.unsat:
                break
            if r == z3.unknown:
                return self.lemmas(live, False, rounds)
            m = s.model()
            broken = {k for k in live if not z3.is_true(m.eval(self.post[k], model_completion=True))}
            if not broken:  # cannot happen for a sound model; never loop on it
                return self.lemmas(live, False, rounds)
            live = [k for k in live if k not in broken]
        return self.lemmas(live, True, rounds)


def houdini(system: FixedSystem, candidates: Sequence[Candidate], deadline: Deadline,
            protect: z3.BoolRef | None = None) -> Lemmas:
    """The largest subset of ``candidates`` that is inductive (relative to ``protect`` if given)."""
    return HoudiniRun(system, candidates, protect).fixpoint(deadline)


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
    number = {a.get_id(): k for k, a in enumerate(acts)}  # not acts.index: z3's == builds a term per comparison
    needed: list[int] = list(initial)
    seen: set[int] = set(initial)
    todo: list[z3.BoolRef] = ([goal_next] if goal_next is not None else []) + [post[k] for k in initial]
    while todo:
        if deadline.expired():
            return None
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
            k = number[a.get_id()]
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
    number = {a.get_id(): k for k, a in enumerate(acts)}
    return sorted(number[a.get_id()] for a in s.unsat_core())
