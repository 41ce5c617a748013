"""Proofs for every number of importers at once.

The property P (a universally quantified state predicate) is proved by
finding lemmas L such that P ∧ L is inductive in the parameterised encoding
(``checker.z3.param``): Init ⇒ P ∧ L and P ∧ L ∧ T ⇒ P' ∧ L' for every N.

The lemmas come from a Houdini search over the model's own candidate clauses
(``checker.z3.candidates``: one-member clauses ``∀i. a(i) ∨ b(i)``, the other
invariant properties, user lemmas), first filtered on every reachable state of
N = 1, 2, 3, then pruned with z3: each round asks for a transition from a
state satisfying P and every live candidate to one breaking some candidate,
and drops what the successor breaks (read from the z3 model at its N).

Outcomes:

- proved: P ∧ L is inductive; a fresh encoding re-checks the three
  obligations before this is reported; the certificate is P ∧ L in model
  vocabulary;
- violated: the counterexample to induction is real at a small N (BMC finds a
  path at N = 1..3);
- unknown: a counterexample to induction (a pair of states, at the smallest N
  z3 finds) that no candidate rules out, or a construct outside the
  fragment, or a solver timeout, with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import z3
from dmabuf_check.checker.z3.bmc import bmc
from dmabuf_check.checker.z3.candidates import Candidate, filtered, generate
from dmabuf_check.checker.z3.encode import FixedSystem
from dmabuf_check.checker.z3.houdini import core_closure, houdini
from dmabuf_check.checker.z3.model_text import show_expr
from dmabuf_check.checker.z3.param import ParamSystem, View
from dmabuf_check.checker.z3.proof import CTI, PROVED, UNKNOWN, VIOLATED, Certificate, Deadline, ProofResult, StateView
from dmabuf_check.checker.z3.terms import FragmentError
from dmabuf_check.model.expr import Expr
from dmabuf_check.model.lang import Model
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties import waitfor
from dmabuf_check.properties.base import Property

ENGINE = "all-n"
CUTOFF_SEARCH = (1, 2, 3)  # sizes where a counterexample to induction is looked for as a real path


def _candidates(system: ParamSystem, build: Callable[[int], Model], prop: Property, properties: Sequence[Property],
                user: Callable[[Model], Sequence[Expr]] | None) -> list[Candidate]:
    alive = filtered(build, CUTOFF_SEARCH, properties, prop.id, user)
    cands, _ = generate(system.model, properties, user(system.model) if user else (), exclude=prop.id)
    return [c for c in cands if c.text in alive]


class Induction:
    """One parameterised induction query: P and candidates in s, a transition s -> t."""

    def __init__(self, system: ParamSystem, prop: Property, candidates: Sequence[Candidate]):
        self.system = system
        sy = self.system
        self.s, self.t = sy.state(""), sy.state("'")
        self.trans, self.parts = sy.trans(self.s, self.t)
        self.p_s, self.p_t = sy.prop(prop, self.s), sy.prop(prop, self.t)
        self.cands: list[Candidate] = []
        self.c_s: list[z3.BoolRef] = []
        self.c_t: list[z3.BoolRef] = []
        self.skipped: list[str] = []
        for c in candidates:
            try:
                cs, ct = sy.condition(c.expr, self.s, c.text), sy.condition(c.expr, self.t, c.text)
            except FragmentError as e:
                self.skipped.append(f"{c.text}: {e}")
                continue
            self.cands.append(c)
            self.c_s.append(cs)
            self.c_t.append(ct)
        self.base = [sy.dom(self.s), self.p_s, self.trans, *sy.take_facts()]

    def holds_after(self, m: z3.ModelRef, k: int, n: int) -> bool:
        """Candidate k in state t of model ``m`` at its N = n (quantifiers unrolled, counts as z3 believed)."""
        terms = self.system.terms
        terms.unroll = n
        try:
            f = self.system.condition(self.cands[k].expr, self.t)
        finally:
            terms.unroll = None
        return z3.is_true(m.eval(f, model_completion=True))


SMALL_N = (1, 2, 3, 4)  # sizes where a model is looked for first


def _check(s: z3.Solver, n: z3.ArithRef, deadline: Deadline,
           assumptions: Sequence[z3.BoolRef] = ()) -> tuple[z3.CheckSatResult, z3.ModelRef | None]:
    """sat with a model, or unsat for every N, or unknown.

    A model is looked for with N = 1, 2, 3, 4 first: with N fixed the
    quantifiers range over a few members and z3 finds models quickly, while
    for an unbounded N it may search for long before giving up. A model found
    that way is a model of the same query. Only when no small N has one is
    the query asked for every N, where z3 refutes these formulas quickly when
    they are unsat.
    """
    for small in SMALL_N:
        if deadline.expired():
            return z3.unknown, None
        s.push()
        s.add(n == small)
        deadline.arm(s)
        r = s.check(*assumptions)
        m = s.model() if r == z3.sat else None
        s.pop()
        if m is not None:
            return z3.sat, m
    deadline.arm(s)
    r = s.check(*assumptions)
    if r == z3.sat:
        return r, s.model()
    return r, None


def _houdini(q: Induction, deadline: Deadline, say: Callable[[str], None]) -> tuple[list[int] | None, str]:
    """Indices of the candidates inductive relative to P (None and a reason if the solver gave up)."""
    s = z3.Solver()
    s.add(*q.base)
    acts = [z3.Bool(f"cand!{k}") for k in range(len(q.cands))]
    for a, c in zip(acts, q.c_s):
        s.add(z3.Implies(a, c))
    s.add(z3.Or(*[z3.And(a, z3.Not(c)) for a, c in zip(acts, q.c_t)]))
    live = list(range(len(q.cands)))
    rounds = 0
    while live:
        rounds += 1
        say(f"all-N houdini: round {rounds}, {len(live)} candidates")
        on = set(live)
        assumptions = [a if k in on else z3.Not(a) for k, a in enumerate(acts)]
        r, m = _check(s, q.system.N, deadline, assumptions)
        if r == z3.unsat:
            return live, ""
        if m is None:
            return None, f"z3 could not decide Houdini round {rounds} within the time limit"
        n = m.eval(q.system.N, model_completion=True).as_long()
        broken = {k for k in live if not q.holds_after(m, k, n)}
        if not broken:  # the unrolled reading disagrees with z3's: decide candidate by candidate
            for k in live:
                s.push()
                s.add(z3.Not(q.c_t[k]))
                r, _ = _check(s, q.system.N, deadline, assumptions)
                s.pop()
                if r == z3.sat:
                    broken.add(k)
                elif r == z3.unknown:
                    return None, f"z3 could not decide candidate {q.cands[k].text}"
            if not broken:
                return None, "Houdini made no progress (z3 model and candidate evaluation disagree)"
        live = [k for k in live if k not in broken]
    return live, ""


UNNAMED = "a step z3 could not name"


def _cti(q: Induction, solver: z3.Solver, m: z3.ModelRef, lemmas: list[str], deadline: Deadline) -> CTI:
    """The counterexample to induction ``m``, re-found at the smallest N (up to 6) where it is a real step of the
    model (z3 may first offer a pair of states that only its counting abstraction allows, and which it offers
    first depends on what the process asked z3 before); else at the smallest N that has one."""
    n = m.eval(q.system.N, model_completion=True).as_long()
    found = [(m, n)]
    smallest = None
    for small in range(1, min(n, 6) + 1):
        solver.push()
        solver.add(q.system.N == small)
        first = None
        for _ in range(REAL_STEP_TRIES):
            deadline.arm(solver)
            if solver.check() != z3.sat:
                break
            ms = solver.model()
            first = first or ms
            before, after = q.system.decode(ms, q.s, small), q.system.decode(ms, q.t, small)
            action = _real_step(q, small, before, after)
            if action is not None:
                solver.pop()
                return CTI(StateView(small, before), action, StateView(small, after), lemmas)
            solver.add(z3.Not(z3.And(*_pins(q, ms, small)[1:])))  # another pair of states, if there is one
        solver.pop()
        if first is not None and smallest is None:
            smallest = (first, small)
    if smallest is not None:
        found.insert(0, smallest)
    # no real step found: the smallest instance first; if z3's model there names no step, the one it first gave
    for m, n in found:
        before, after = q.system.decode(m, q.s, n), q.system.decode(m, q.t, n)
        action = _cti_action(q, m, n, before, after)
        if action == UNNAMED:
            action = _cti_action_asked(q, solver, m, n, deadline)
        if action != UNNAMED:
            break
    return CTI(StateView(n, before), action, StateView(n, after), lemmas)


REAL_STEP_TRIES = 8  # models asked for at the smallest N before settling for a step of the abstraction


def _pins(q: Induction, m: z3.ModelRef, n: int) -> list[z3.BoolRef]:
    """N = n and both states of the query fixed to their values in ``m``."""
    pins = [q.system.N == n]
    for view in (q.s, q.t):
        for v in q.system.model.variables:
            term = view.terms[v]
            cells = [z3.Select(term, k) for k in range(n)] if q.system.is_member[v] else [term]  # type: ignore
            pins += [c == m.eval(c, model_completion=True) for c in cells]
    return pins


def _cti_action_asked(q: Induction, solver: z3.Solver, m: z3.ModelRef, n: int, deadline: Deadline) -> str:
    """Which action takes the CTI's state to its successor, asked of z3 one action at a time (a model's own
    evaluation of a disjunct with quantifiers can stay symbolic)."""
    pins = _pins(q, m, n)
    for act, disjunct, _members in q.parts:
        solver.push()
        solver.add(*pins, disjunct)
        deadline.arm(solver)
        sat = solver.check() == z3.sat
        solver.pop()
        if sat:
            return act.name + " (in z3's counting abstraction)"
    return UNNAMED


def _real_step(q: Induction, n: int, before: dict, after: dict) -> str | None:
    """The action instance that takes ``before`` to ``after`` on the compiled model at N = n, if any."""
    from dmabuf_check.model.pycompile import Compiled

    c = Compiled(q.system.build(n))
    try:
        s0, s1 = c.layout.encode(before), c.layout.encode(after)
        for k, nxt in c.successors(s0):
            if nxt == s1:
                return c.instances[k].label
    except ModelError:
        pass  # a state outside the domains (z3's count facts allow what no real state has)
    return None


def _cti_action(q: Induction, m: z3.ModelRef, n: int, before: dict, after: dict) -> str:
    """The action instance of a CTI: replayed on the compiled model at N = n if it is a real step there."""
    real = _real_step(q, n, before, after)
    if real is not None:
        return real
    for act, disjunct, members in q.parts:  # z3's own reading of the step
        if z3.is_true(m.eval(disjunct, model_completion=True)):
            ms = [m.eval(x, model_completion=True).as_long() + 1 for x in members]
            return act.name + (f"({', '.join(map(str, ms))})" if ms else "") + " (in z3's counting abstraction)"
    return UNNAMED


def _conjuncts(f: z3.BoolRef) -> list[z3.BoolRef]:
    return [c for x in f.children() for c in _conjuncts(x)] if z3.is_and(f) else [f]


def _certify(build: Callable[[int], Model], prop: Property, lemma_texts: list[str], properties: Sequence[Property],
             user: Callable[[Model], Sequence[Expr]] | None, deadline: Deadline) -> Certificate:
    """Re-check 'P ∧ lemmas is inductive for every N' on a fresh encoding and fresh solvers."""
    t0 = time.perf_counter()
    fresh = ParamSystem(build)
    cands, _ = generate(fresh.model, properties, user(fresh.model) if user else (), exclude=prop.id)
    by_text = {c.text: c.expr for c in cands}
    s, t = fresh.state("~"), fresh.state("~'")

    def inv(v: View) -> z3.BoolRef:
        return z3.And(fresh.dom(v), fresh.prop(prop, v), *[fresh.condition(by_text[x], v) for x in lemma_texts])

    trans, _ = fresh.trans(s, t, "~")
    i_s, i_t = inv(s), inv(t)
    facts = fresh.take_facts()
    # one query per conjunct of I' (equivalent, and far easier for quantifier instantiation)
    obligations = [("Init ⇒ I", [fresh.init(s)], g) for g in _conjuncts(i_s)]
    obligations += [("I ∧ T ⇒ I'", [i_s, trans], g) for g in _conjuncts(i_t)]
    obligations += [("I ⇒ P", [i_s], fresh.prop(prop, s))]
    facts += fresh.take_facts()
    text = lemma_texts + [show_expr(prop.predicate(fresh.model)) if prop.build else prop.id]
    cert = Certificate("inductive for every N", text, 1, True, 0.0,
                       ["Init ⇒ I (every N)", "I ∧ T ⇒ I' (every N)", "I ⇒ P (every N)"])
    for what, hyp, goal in obligations:
        solver = z3.Solver()
        deadline.arm(solver)
        solver.add(*facts, *hyp, z3.Not(goal))
        r = solver.check()
        if r != z3.unsat:
            cert.checked = False
            cert.obligations.append(f"rejected: {what} {'fails' if r == z3.sat else 'undecided'} for {str(goal)[:160]}")
            break
    cert.check_seconds = time.perf_counter() - t0
    return cert


def _fixed_prefilter(build: Callable[[int], Model], prop: Property, properties: Sequence[Property],
                     texts: set[str], user: Callable[[Model], Sequence[Expr]] | None, deadline: Deadline,
                     say: Callable[[str], None]) -> tuple[set[str], list[str] | None]:
    """Candidates inductive relative to P at N = 3 and 4, and a small subset that proves P at N = 4.

    A set of lemmas inductive for every N is inductive at N = 3 and at N = 4,
    so the all-N Houdini loses nothing by starting from the fixed-N Houdini
    fixpoints, which quantifier-free queries compute fast. The unsat-core
    closure at N = 4 is the first guess of what the proof needs.
    """
    alive = set(texts)
    small: list[str] | None = None
    for n in (3, 4):
        say(f"all-N: fixed-N Houdini at N={n}")
        model = build(n)
        system = FixedSystem(model)
        cands, _ = generate(model, properties, user(model) if user else (), exclude=prop.id)
        cands = [c for c in cands if c.text in alive]
        p_cur = system.prop(prop, system.cur)
        lem = houdini(system, cands, deadline, protect=p_cur)
        if not lem.complete:
            return alive, None
        alive = set(lem.texts)
        if n == 4:
            base = [system.type_invariant(system.cur), p_cur, system.trans(system.cur, system.nxt, system.sel)]
            core = core_closure(base, system.prop(prop, system.nxt), lem.formulas,
                                [system.at(f, system.nxt) for f in lem.formulas], deadline)
            small = [lem.texts[k] for k in core] if core is not None else None
    return alive, small


def _attempt(system: ParamSystem, prop: Property, cands: list[Candidate], deadline: Deadline,
             say: Callable[[str], None]) -> tuple:
    """All-N Houdini and final check: (status, query, lemma indices, solver and model of a CTI, note)."""
    q = Induction(system, prop, cands)
    live, why = _houdini(q, deadline, say)
    if live is None:
        return UNKNOWN, q, None, None, None, why
    final = z3.Solver()
    final.add(*q.base, *[q.c_s[k] for k in live], z3.Not(q.p_t))
    r, m = _check(final, system.N, deadline)
    if r == z3.unsat:
        return PROVED, q, live, None, None, ""
    if m is not None:
        return VIOLATED, q, live, final, m, ""
    return UNKNOWN, q, live, None, None, "z3 could not decide the final induction check within the time limit"


def _uniform(build: Callable[[int], Model], prop: Property) -> None:
    """Raise FragmentError unless ``prop``'s predicate is one formula for every N.

    The parameterised encoding reads the predicate built for one instance and
    lets its quantifiers range over every N; that is only the property at
    every N if its builder writes the same formula whatever the size. The
    wait-for predicate is built from one instance's cycles, so it never is;
    other builders are compared at N = 1..5.
    """
    if prop.build is waitfor.no_cycle:
        raise FragmentError("the wait-for predicate is built from the cycles of one instance's static graph, "
                            "so no single formula covers every N (proved per N by the fixed-N engines)")
    if prop.build is None:
        return  # the deadlock property is built from the guards by the encoding itself
    texts = {n: show_expr(prop.predicate(build(n))) for n in range(1, 6)}
    if len(set(texts.values())) > 1:
        raise FragmentError("its predicate differs between sizes: " + "; ".join(f"N={n}: {t}" for n, t in texts.items()))


def _small_violation(build: Callable[[int], Model], prop: Property, sizes: Sequence[int], depth: int,
                     deadline: Deadline, say: Callable[[str], None]) -> ProofResult | None:
    """A shortest counterexample at the first size in ``sizes`` that has one within ``depth`` steps."""
    for n in sizes:
        say(f"all-N: BMC for a real violation with N={n}, depth ≤ {depth}")
        budget = max(1.0, deadline.remaining_ms() / 4000) if deadline.end is not None else 60.0
        found = bmc(build(n), [prop], max_depth=depth, timeout=budget)[0]
        if found.status == VIOLATED:
            found.engine, found.importers = ENGINE, n
            found.note = f"violated with {n} importer{'s' if n > 1 else ''} (so not for every N)"
            return found
    return None


def prove_all_n(build: Callable[[int], Model], prop: Property, properties: Sequence[Property] = (), *,
                timeout: float | None = 300.0, user_lemmas: Callable[[Model], Sequence[Expr]] | None = None,
                lemmas: bool = True, progress: Callable[[str], None] | None = None) -> ProofResult:
    """Prove ``prop`` for every number of importers, or say why not (``lemmas=False``: user lemmas only)."""
    say = progress or (lambda text: None)
    t0 = time.perf_counter()
    deadline = Deadline(timeout)

    def result(status: str, **kw) -> ProofResult:
        return ProofResult(prop.id, status, ENGINE, None, time.perf_counter() - t0, **kw)

    # a quick look for a short real violation first: cheaper than any induction query
    violation = _small_violation(build, prop, (1, 2), 12, deadline, say)
    if violation is not None:
        return violation
    try:
        _uniform(build, prop)
        system = ParamSystem(build)
        system.prop(prop, system.state("?"))  # outside the fragment? say so before any search
        system.take_facts()
    except FragmentError as e:
        return result(UNKNOWN, note=f"cannot prove for all N in this fragment: {prop.id}: {e}", outside=True)
    say("all-N: filtering candidate lemmas on N = 1..3")
    cands = _candidates(system, build, prop, properties if lemmas else (), user_lemmas)
    if not lemmas:
        cands = [c for c in cands if c.source == "user"]
    alive, small = _fixed_prefilter(build, prop, properties, {c.text for c in cands}, user_lemmas, deadline, say)
    tries = []
    if small is not None:
        tries.append([c for c in cands if c.text in set(small)])
    tries.append([c for c in cands if c.text in alive])
    status, q, live, final, model, why = UNKNOWN, None, None, None, None, "no attempt"
    for attempt in tries:
        say(f"all-N: induction with {len(attempt)} candidate lemmas")
        status, q, live, final, model, why = _attempt(system, prop, attempt, deadline, say)
        if status == PROVED:
            break
    assert q is not None
    if status == UNKNOWN:
        return result(UNKNOWN, note=why)
    found = [q.cands[k].text for k in live or []]
    if status == VIOLATED:
        assert final is not None and model is not None
        cti = _cti(q, final, model, found, deadline)
        violation = _small_violation(build, prop, (min(cti.before.importers, max(CUTOFF_SEARCH)),), 25,
                                     deadline, say)
        if violation is not None:
            violation.cti = cti
            return violation
        unb = q.system.unbounded()
        return result(UNKNOWN, cti=cti, note="not inductive for every N with the lemmas found; counterexample to "
                      "induction below" + (f" (no range known for: {', '.join(unb)})" if unb else ""))
    if len(found) > 8:  # small sets already come from the fixed-N unsat core; quantified cores are slow
        say(f"all-N: minimising {len(found)} lemmas")
        core = core_closure(q.base, q.p_t, [q.c_s[k] for k in live or []], [q.c_t[k] for k in live or []],
                            Deadline(min(timeout or 20.0, 20.0)))
        if core is not None:  # the lemmas the proof actually uses
            found = [found[k] for k in core]
    say(f"all-N: independent check of {len(found) + 1} conjuncts")
    cert = _certify(build, prop, found, properties, user_lemmas, Deadline(timeout))
    if not cert.checked:
        return result(UNKNOWN, certificate=cert, note="the independent check rejected the certificate: "
                      + cert.obligations[-1])
    counting = bool(q.system.terms.counts)  # the query used counts (in P, a lemma or a guard)
    return result(PROVED, certificate=cert,
                  note="counting encoded by cardinality facts (sound, see checker/z3/param.py)" if counting else "")
