"""Unbounded proofs for a fixed N: k-induction and Spacer, with re-checked certificates."""

from __future__ import annotations

import pytest
import z3
from conftest import load_expected
from dmabuf_check.checker.z3.certificate import check_inductive
from dmabuf_check.checker.z3.proof import PROVED, UNKNOWN, VIOLATED, Deadline
from dmabuf_check.checker.z3.prove import Options, prove_fixed
from dmabuf_check.model import r1
from dmabuf_check.properties.base import DEADLOCK
from dmabuf_check.properties.r1 import PROPERTIES

BY_ID = {p.id: p for p in PROPERTIES}
EXPECTED = load_expected()


def _options(engine: str, kind: str, variant: str | None = None, **kw) -> Options:
    return Options(engine=engine, timeout=60, properties=PROPERTIES, build=lambda n: r1.build(n, kind, variant), **kw)


@pytest.mark.parametrize("engine,kind,n", [("kind", "static", 1), ("kind", "dynamic", 3), ("chc", "static", 2),
                                           ("chc", "dynamic", 2)])
def test_every_r1_invariant_is_proved_with_an_accepted_certificate(engine, kind, n):
    model = r1.build(n, kind)
    for p in PROPERTIES:
        r = prove_fixed(model, p, _options(engine, kind))
        assert r.status == PROVED, (p.id, r.note)
        cert = r.certificate
        assert cert is not None and cert.checked and cert.invariant
        assert cert.obligations[:3] == ["Init ⇒ I", "I ∧ T ⇒ I'", "I ⇒ P"]


def test_the_independent_check_rejects_a_wrong_certificate():
    model = r1.build(2, "static")
    prop = BY_ID["no-migration-while-mapped"]
    ok, why = check_inductive(model, z3.BoolVal(True), prop, Deadline(30))
    assert not ok and why.startswith("I ⇒ P")
    from dmabuf_check.checker.z3.encode import FixedSystem

    system = FixedSystem(model)
    ok, why = check_inductive(model, system.prop(prop, system.cur), prop, Deadline(30))
    assert not ok and why.startswith("I ∧ T ⇒ I'")  # the property alone is not inductive for static importers


def test_plain_k_induction_needs_a_deeper_k_and_yields_a_checked_k_inductive_certificate():
    prop = BY_ID["no-stuck-state"]
    assert prop.kind == DEADLOCK
    r = prove_fixed(r1.build(1, "static"), prop, _options("kind", "static", lemmas=False))
    assert r.status == PROVED
    assert r.certificate.kind == "k-inductive" and r.certificate.k == r.depth > 1 and r.certificate.checked


def test_plain_spacer_finds_its_own_invariant():
    r = prove_fixed(r1.build(2, "dynamic"), BY_ID["no-migration-while-mapped"], _options("chc", "dynamic",
                                                                                        lemmas=False))
    assert r.status == PROVED and r.certificate.checked
    assert any("storage" in line for line in r.certificate.invariant)


@pytest.mark.parametrize("engine,variant,kind", [
    ("kind", "B1", "static"), ("kind", "B2", "dynamic"), ("kind", "B3", "dynamic"), ("kind", "B4", "dynamic"),
    ("kind", "B5", "static"), ("kind", "B6", "dynamic"),
    ("chc", "B1", "static"), ("chc", "B6", "static"),  # Spacer reaches deep counterexamples slowly: two suffice
])
def test_variants_are_refuted_with_the_shortest_counterexample(engine, variant, kind):
    prop = BY_ID[EXPECTED["property"][variant]]
    r = prove_fixed(r1.build(2, kind, variant), prop, _options(engine, kind, variant))
    assert r.status == VIOLATED
    assert r.counterexample.length == EXPECTED["shortest_counterexample"][variant][kind]["2"]


def test_k_induction_without_lemmas_stops_at_its_depth_as_unknown():
    r = prove_fixed(r1.build(2, "static"), BY_ID["no-migration-while-mapped"],
                    _options("kind", "static", lemmas=False, depth=3))
    assert r.status == UNKNOWN and "k ≤ 3" in r.note
