"""Differential testing: the explicit engine, BMC and k-induction agree on random models of the language.

The generator (``random_models``) covers every type shape: ranges from zero, below zero and 241 wide,
large enumerations, references with several specials, per-member arrays of each, and every operator.
``benchmarks/bench_random.py`` runs the same comparison over many more seeds.
"""

from __future__ import annotations

import z3
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.checker.z3.bmc import Unroller, bmc
from dmabuf_check.checker.z3.encode import FixedSystem
from dmabuf_check.checker.z3.proof import PROVED, UNKNOWN, VIOLATED, Deadline
from dmabuf_check.checker.z3.prove import Options, prove_fixed
from dmabuf_check.model.pycompile import DomainError
from random_models import RandomModel

MODELS = 300  # the suite's slice; benchmarks/bench_random.py runs many more
SEED0 = 20261201
KIND_EVERY = 4  # plain k-induction on every 4th model (150 of them)
NEVER = 10**9


def explicit_outcome(rm: RandomModel) -> tuple[str, int]:
    """('violated', shortest depth) | ('holds', BFS depth) | ('domain', -1) from the explicit engine."""
    prop = rm.property()
    try:
        r = explore(rm.model, [prop])
    except DomainError:
        return "domain", -1
    v = r.verdicts[0]
    return ("violated", v.counterexample.length) if v.status == VIOLATED else ("holds", r.depth)


def z3_depths(rm: RandomModel, bound: int) -> tuple[int, int]:
    """Shortest depth of a state violating the predicate, and of one with an out-of-domain step (NEVER: none)."""
    system = FixedSystem(rm.model)
    prop = rm.property()
    u = Unroller(system, Deadline(60))
    for d in range(bound + 1):
        if d:
            u.extend()
        bad = u.reach(z3.Not(system.prop(prop, u.states[-1])))[0] == z3.sat
        err = u.reach(z3.Not(system.domain_ok(u.states[-1])))[0] == z3.sat
        if bad or err:
            return (d if bad else NEVER), (d if err else NEVER)
    return NEVER, NEVER


def negative_values(cex) -> bool:
    """Some state of the counterexample holds a value below zero."""
    def neg(v) -> bool:
        return isinstance(v, int) and v < 0 or isinstance(v, list) and any(neg(x) for x in v)
    return any(neg(v) for s in cex.steps for v in s.state.values())


def test_explicit_bmc_and_kinduction_agree_on_random_models():
    seen = {"violated": 0, "holds": 0, "domain": 0}
    shapes = {"signed": 0, "wide": 0, "large enum": 0, "ref specials": 0, "signed array": 0, "ref array": 0}
    reached_negative = kind_checked = 0
    for k in range(MODELS):
        rm = RandomModel(SEED0 + k)
        kind, depth = explicit_outcome(rm)
        seen[kind] += 1
        shapes["signed"] += 1
        shapes["wide"] += rm.gw is not None
        shapes["large enum"] += rm.gl is not None
        shapes["ref specials"] += rm.go is not None and len(rm.specials) > 1
        shapes["signed array"] += rm.ms is not None
        shapes["ref array"] += rm.mo is not None
        bad, err = z3_depths(rm, depth + 1 if kind == "holds" else 80)
        where = f"model seed {rm.seed}: explicit {kind} {depth}, z3 predicate {bad}, domain {err}"
        if kind == "violated":  # BFS stops at the first bad state of the shallowest level
            assert bad == depth and bad <= err, where
        elif kind == "domain":  # BFS expanded an out-of-domain step before any violation
            assert err <= bad, where
        else:
            assert bad == err == NEVER, where
        if kind != "holds" and bad < err:  # the engine-level BMC returns the same shortest path
            r = bmc(rm.model, [rm.property()], max_depth=bad)[0]
            assert r.status == VIOLATED and r.counterexample.length == bad, where
            reached_negative += negative_values(r.counterexample)
        if k % KIND_EVERY == 0 and kind != "domain":
            kind_checked += 1
            r = prove_fixed(rm.model, rm.property(), Options(engine="kind", lemmas=False, timeout=30, depth=30))
            where += f", k-induction {r.status} {r.note}"
            if kind == "holds":
                assert r.status in (PROVED, UNKNOWN) and (r.status != PROVED or r.certificate.checked), where
            else:
                assert r.status == VIOLATED and r.counterexample.length == depth, where
    assert min(seen.values()) >= 60, seen  # every outcome is well represented
    assert min(shapes.values()) >= 45, shapes  # and every type shape
    assert reached_negative >= 6, reached_negative  # counterexamples that go below zero (9 of 300)
    assert kind_checked >= 45, kind_checked  # 54 of 300


def test_proof_engines_never_contradict_the_explicit_engine():
    checked = 0
    for k in range(30):
        rm = RandomModel(SEED0 + 7919 * k)
        kind, depth = explicit_outcome(rm)
        if kind == "domain":
            continue
        checked += 1
        for engine, lemmas in (("kind", True), ("chc", False)):
            r = prove_fixed(rm.model, rm.property(), Options(engine=engine, lemmas=lemmas, timeout=30, depth=30))
            where = f"model seed {rm.seed}, {engine}: explicit {kind}, z3 {r.status} {r.note}"
            if kind == "holds":
                assert r.status in (PROVED, UNKNOWN) and (r.status != PROVED or r.certificate.checked), where
                assert r.status == PROVED, where  # small finite models: both engines do prove
            else:
                assert r.status == VIOLATED and r.counterexample.length == depth, where
    assert checked >= 15  # 19 of these 30 seeds are in-domain
