"""Proofs for one fixed instance: pick an engine, strengthen, certify, explain.

``prove_fixed`` runs one of

- ``bmc``: shortest counterexample up to a depth (never proves);
- ``kind``: k-induction (``checker.z3.kind``);
- ``chc``: Spacer (``checker.z3.chc``);

after computing inductive lemmas with Houdini over the model's own candidate
clauses (``checker.z3.houdini``), unless told not to. A proof is reported only
when its certificate passes the independent check of ``checker.z3.certificate``;
a violation always comes with a shortest counterexample built by BMC and
replayed through the compiled model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import z3
from dmabuf_check.checker import paths
from dmabuf_check.checker.z3.bmc import WAIT_FOR_PROPERTY, bmc, wait_cycle_detail
from dmabuf_check.checker.z3.candidates import Candidate
from dmabuf_check.checker.z3.certificate import certify
from dmabuf_check.checker.z3.chc import spacer
from dmabuf_check.checker.z3.encode import FixedSystem
from dmabuf_check.checker.z3.houdini import HoudiniRun, Lemmas, core_closure, fixed_candidates, implied_by
from dmabuf_check.checker.z3.kind import kinduction
from dmabuf_check.checker.z3.model_text import show_expr
from dmabuf_check.checker.z3.proof import PROVED, UNKNOWN, VIOLATED, Deadline, ProofResult
from dmabuf_check.model.expr import Expr
from dmabuf_check.model.lang import Model
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.base import Property

ENGINES = ("bmc", "kind", "chc")
CORE_SECONDS = 5.0  # the most a certificate's lemma minimisation (unsat-core closure) may take


@dataclass
class Options:
    engine: str = "kind"
    depth: int = 40  # BMC depth / largest k
    timeout: float | None = 120.0  # seconds for the whole proof of one property
    lemmas: bool = True  # strengthen with Houdini lemmas
    properties: Sequence[Property] = ()  # the model's catalog: its invariants are candidate lemmas
    build: Callable[[int], Model] | None = None  # the model at other sizes, to filter candidates
    user_lemmas: Callable[[Model], Sequence[Expr]] | None = None


def _importers(model: Model) -> int | None:
    n = model.params.get("importers")
    return n if isinstance(n, int) else None


class _Pool:
    """The candidates of one model under one set of options, their Houdini run and its fixpoint."""

    def __init__(self) -> None:
        self.candidates: list[Candidate] | None = None
        self.run: HoudiniRun | None = None
        self.fixpoint: Lemmas | None = None  # of every candidate (no property excluded)


class Reuse:
    """What a prove run computes once per model and reuses for every property.

    - the z3 encoding (``FixedSystem``) the engines work on;
    - the translation the certificates are re-checked with (a second
      ``FixedSystem``: still not the engines' one);
    - the candidate lemmas (generated and filtered on concrete states once,
      with no property excluded) and one Houdini run over them, whose
      fixpoint is the largest inductive subset of every candidate.

    The lemmas for every property are that one fixpoint. When it contains
    P's own candidate, P is proved by it (an inductive set that implies P);
    when it does not, it is also the largest inductive subset of the
    candidates without P. Proving with or without a ``Reuse`` gives the same
    verdicts: the fixpoint is unique.

    A phase cut short by a property's deadline is resumed by the next
    property that needs it, with that property's budget.
    """

    def __init__(self, model: Model, system: FixedSystem | None = None):
        self.model = model
        self._system = system
        self._checker: FixedSystem | None = None
        self._pools: dict[tuple, _Pool] = {}
        self.candidate_builds = 0  # how often candidates were generated (once per model and options)
        self.houdini_runs = 0  # how often a HoudiniRun was set up

    @property
    def system(self) -> FixedSystem:
        if self._system is None:
            self._system = FixedSystem(self.model)
        return self._system

    def checker(self) -> FixedSystem:
        """The certificates' own translation of the model, built once."""
        if self._checker is None:
            self._checker = FixedSystem(self.model)
        return self._checker

    def _pool(self, opts: Options) -> _Pool:
        key = (id(opts.build), tuple(p.id for p in opts.properties), id(opts.user_lemmas))
        return self._pools.setdefault(key, _Pool())

    def candidates(self, opts: Options, deadline: Deadline, say: Callable[[str], None]) -> list[Candidate]:
        pool = self._pool(opts)
        if pool.candidates is None:
            say("houdini: generating candidate lemmas")
            self.candidate_builds += 1
            cands = fixed_candidates(self.model, opts.build, opts.properties, deadline=deadline)
            if opts.user_lemmas is not None:
                cands += [Candidate(show_expr(e), e, "user") for e in opts.user_lemmas(self.model)]
            # a cut-short filter leaves more candidates, never fewer: Houdini decides them either way
            pool.candidates = cands
        return pool.candidates

    def fixpoint(self, opts: Options, deadline: Deadline, say: Callable[[str], None]) -> Lemmas:
        """The Houdini fixpoint of every candidate (``complete`` False if cut short; resumed next time)."""
        pool = self._pool(opts)
        cands = self.candidates(opts, deadline, say)
        if pool.run is None:
            self.houdini_runs += 1
            pool.run = HoudiniRun(self.system, cands)
        if pool.fixpoint is None or not pool.fixpoint.complete:
            say(f"houdini: {len(cands)} candidates")
            start = pool.fixpoint.members if pool.fixpoint is not None else None
            pool.fixpoint = pool.run.fixpoint(deadline, start)
        return pool.fixpoint

    def lemmas(self, prop: Property, opts: Options, deadline: Deadline, say: Callable[[str], None]) -> Lemmas:
        """The inductive lemmas for ``prop``: the Houdini fixpoint of every candidate, ``prop``'s own included.

        An inductive set that contains P proves P (Init ⇒ I, I ∧ T ⇒ I', I ⇒ P is what the certificate
        re-checks), so nothing is gained by a second fixpoint without P's candidate; when P is not in the
        fixpoint, the fixpoint is also the largest inductive subset of the candidates without it.
        """
        return self.fixpoint(opts, deadline, say)


def strengthen(model: Model, system: FixedSystem, prop: Property, opts: Options, deadline: Deadline,
               say: Callable[[str], None], reuse: Reuse | None = None) -> Lemmas:
    """Inductive lemmas for ``prop``: the Houdini fixpoint of every candidate (none if it was cut short)."""
    if not opts.lemmas:
        return Lemmas([], [], True)
    reuse = reuse or Reuse(model, system)
    lem = reuse.lemmas(prop, opts, deadline, say)
    if not lem.complete:
        return Lemmas([], [], True)  # not a fixpoint: nothing is proved about them, assume none
    return lem


def domain_lemmas(model: Model, system: FixedSystem, opts: Options, deadline: Deadline,
                  say: Callable[[str], None], reuse: Reuse | None = None) -> z3.BoolRef | None:
    """Houdini lemmas for BMC's domain queries, when the model has assignments that could leave a domain."""
    if not opts.lemmas or not any(system.checks):
        return None
    say("houdini: lemmas for the domain checks")
    lem = (reuse or Reuse(model, system)).fixpoint(opts, deadline, say)
    return lem.conj() if lem.complete and lem.formulas else None


def prove_fixed(model: Model, prop: Property, opts: Options,
                progress: Callable[[str], None] | None = None, reuse: Reuse | None = None) -> ProofResult:
    """Prove or refute ``prop`` on ``model`` with ``opts.engine``.

    ``reuse`` (a ``Reuse`` of the same model) carries the encoding, the candidate lemmas and the Houdini
    fixpoint from one property to the next; the verdicts are the same with or without it. ``opts.timeout``
    bounds the wall time of the whole call: every phase, the certificate check included, works on what is
    left of it.
    """
    if opts.engine not in ENGINES:
        raise ModelError(f"--engine must be one of {', '.join(ENGINES)}, not {opts.engine!r}")
    say = progress or (lambda text: None)
    t0 = time.perf_counter()
    deadline = Deadline(opts.timeout)
    if reuse is None or reuse.model is not model:
        reuse = Reuse(model)
    system = reuse.system
    n = _importers(model)
    if opts.engine == "bmc":
        invariants = domain_lemmas(model, system, opts, deadline, say, reuse)
        left = _left(deadline)
        r = bmc(model, [prop], max_depth=opts.depth, timeout=left, system=system, invariants=invariants,
                progress=lambda p: say(f"bmc: depth {p.depth}  {p.seconds:.1f} s"))[0]
        r.seconds = time.perf_counter() - t0  # the lemma phase counts against --timeout too
        return r
    lem = strengthen(model, system, prop, opts, deadline, say, reuse)
    lemmas = lem.conj()
    extra: z3.BoolRef | None = None
    if opts.engine == "kind":
        out = kinduction(system, prop, lemmas, opts.depth, deadline,
                         progress=lambda p: say(f"k-induction: k={p.k}  {p.seconds:.1f} s"))
        status, depth, note, path = out.status, out.k, out.note, out.path
    elif not opts.lemmas:  # plain Spacer on the property alone
        if _implies(system, lemmas, prop, deadline):  # nothing to solve (Spacer's Inv would be arbitrary)
            status, depth, note = PROVED, 0, "Spacer not needed: the property holds in every state within the domains"
        else:
            out2 = spacer(system, prop, lemmas, deadline, progress=lambda p: say(f"spacer: {p.seconds:.1f} s"))
            status, depth, note, extra = out2.status, out2.frames, out2.note, out2.invariant
        path = []
    else:
        if _implies(system, lemmas, prop, deadline):
            status, depth = PROVED, 0
            note = ("Spacer not needed: the Houdini lemmas imply the property" if lem.texts
                    else "Spacer not needed: the property holds in every state within the domains")
        elif _relatively_inductive(system, lemmas, prop, deadline):
            status, depth, note = PROVED, 0, "Spacer not needed: the property is inductive given the Houdini lemmas"
        else:
            out2 = spacer(system, prop, lemmas, deadline, progress=lambda p: say(f"spacer: {p.seconds:.1f} s"))
            status, depth, note, extra = out2.status, out2.frames, out2.note, out2.invariant
        path = []
    engine = opts.engine + ("+houdini" if opts.lemmas else "")
    if status == VIOLATED:
        if not path:
            found = bmc(model, [prop], max_depth=max(opts.depth, 200), timeout=_left(deadline), system=system)[0]
            if found.counterexample is None:
                return ProofResult(prop.id, UNKNOWN, engine, n, time.perf_counter() - t0, depth,
                                   note="the engine reports a violation that BMC did not reproduce: " + found.note)
            cex = found.counterexample
        else:
            detail = wait_cycle_detail(model, system, path) if prop.id == WAIT_FOR_PROPERTY else ""
            cex = paths.counterexample(system.compiled, prop.id, path, detail)
        return ProofResult(prop.id, VIOLATED, engine, n, time.perf_counter() - t0, cex.length, counterexample=cex)
    if status != PROVED:
        return ProofResult(prop.id, UNKNOWN, engine, n, time.perf_counter() - t0, depth, note=note)
    k = depth if opts.engine == "kind" else 1
    # a smaller certificate is a nicety: the core queries get half of what is left, at most CORE_SECONDS (on
    # thousands of lemmas a closure can take minutes), the check the rest; if cut short, every lemma is shown
    texts, forms = _needed(system, prop, lem, opts.engine, k, extra is not None,
                           deadline.share(0.5).capped(CORE_SECONDS),
                           relative="inductive given" in note)
    invariant = z3.And(*forms)
    if k == 1:  # P is part of the invariant (k-induction proved P ∧ lemmas inductive; otherwise I ⇒ P anyway)
        texts = [t for t in texts if t != prop.id]  # P's own candidate, when the core kept it: P is added below
        texts.append(show_expr(prop.predicate(model)) if prop.build else f"{prop.id} (from the guards)")
        invariant = z3.And(invariant, system.prop(prop, system.cur))
    cert = certify(model, system, prop, texts, invariant, extra, k, deadline, fresh=reuse.checker())
    seconds = time.perf_counter() - t0
    if not cert.checked:
        why = ("the time limit was reached while the certificate was checked: " if deadline.expired()
               else "the independent check rejected the certificate: ")
        return ProofResult(prop.id, UNKNOWN, engine, n, seconds, depth, certificate=cert,
                           note=why + cert.obligations[-1])
    return ProofResult(prop.id, PROVED, engine, n, seconds, depth, certificate=cert, note=note)


def _left(deadline: Deadline) -> float | None:
    """Seconds left of the run's deadline (at least 0.1: a z3 timeout of 0 would mean none)."""
    return None if deadline.end is None else max(0.1, deadline.remaining_ms() / 1000)


def _needed(system: FixedSystem, prop: Property, lem: Lemmas, engine: str, k: int, spacer_used: bool,
            deadline: Deadline, relative: bool = False) -> tuple[list[str], list[z3.BoolRef]]:
    """The lemmas the proof uses (unsat-core closure), so that the certificate shows only those.

    Falls back to every lemma when a core query fails; the certificate check
    decides either way.
    """
    cur, nxt = system.cur, system.nxt
    post = lem.post if lem.post is not None else [system.at(f, nxt) for f in lem.formulas]
    step = [system.type_invariant(cur), system.trans(cur, nxt, system.sel)]
    core: list[int] | None = None
    if lem.formulas and (engine == "kind" and k == 1 or engine == "chc" and relative):
        core = core_closure(step + [system.prop(prop, cur)], system.prop(prop, nxt), lem.formulas, post, deadline)
    elif lem.formulas and engine == "chc" and not spacer_used and not relative:
        seeds = implied_by([system.type_invariant(cur)], system.prop(prop, cur), lem.formulas, deadline)
        if seeds is not None:
            core = core_closure(step, None, lem.formulas, post, deadline, initial=seeds)
    if core is None:
        return list(lem.texts), list(lem.formulas)
    return [lem.texts[j] for j in core], [lem.formulas[j] for j in core]


def _relatively_inductive(system: FixedSystem, lemmas: z3.BoolRef, prop: Property, deadline: Deadline) -> bool:
    """P ∧ lemmas ∧ T ⇒ P' (the lemmas are inductive already), and Init ⇒ P."""
    cur, nxt = system.cur, system.nxt
    step = z3.Solver()
    deadline.arm(step)
    step.add(system.type_invariant(cur), lemmas, system.prop(prop, cur), system.trans(cur, nxt, system.sel),
             z3.Not(system.prop(prop, nxt)))
    if step.check() != z3.unsat:
        return False
    init = z3.Solver()
    deadline.arm(init)
    init.add(system.init(cur), z3.Not(system.prop(prop, cur)))
    return init.check() == z3.unsat


def _implies(system: FixedSystem, lemmas: z3.BoolRef, prop: Property, deadline: Deadline) -> bool:
    s = z3.Solver()
    deadline.arm(s)
    s.add(lemmas, system.type_invariant(system.cur), z3.Not(system.prop(prop, system.cur)))
    return s.check() == z3.unsat
