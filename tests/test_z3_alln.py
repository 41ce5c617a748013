"""Proofs for every number of importers, and what happens where induction fails."""

from __future__ import annotations

import pytest
from dmabuf_check.checker.z3.alln import prove_all_n
from dmabuf_check.checker.z3.proof import PROVED, UNKNOWN, VIOLATED
from dmabuf_check.model import r1
from dmabuf_check.model.expr import count, forall
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.properties.r1 import PROPERTIES

BY_ID = {p.id: p for p in PROPERTIES}
REQUIRED = ["map-after-attach", "attach-holds-ref", "no-migration-while-mapped", "dma-targets-current-storage",
            "release-is-final"]


def _build(kind: str, variant: str | None = None):
    return lambda n: r1.build(n, kind, variant)


@pytest.mark.parametrize("kind", ["static", "dynamic"])
@pytest.mark.parametrize("pid", REQUIRED + ["pin-count"])
def test_required_properties_hold_for_every_n(kind, pid):
    r = prove_all_n(_build(kind), BY_ID[pid], PROPERTIES, timeout=120)
    assert r.status == PROVED, r.note
    assert r.importers is None
    cert = r.certificate
    assert cert.checked and cert.kind == "inductive for every N"
    assert all("(every N)" in o for o in cert.obligations)
    if pid == "pin-count" and kind == "static":  # counting: proved through the cardinality facts
        assert "pins = #{i | map[i] = 1}" in cert.invariant and "cardinality" in r.note


def test_static_migration_needs_the_pin_count_as_a_lemma():
    r = prove_all_n(_build("static"), BY_ID["no-migration-while-mapped"], PROPERTIES, timeout=120)
    assert r.status == PROVED
    assert "pins = #{i | map[i] = 1}" in r.certificate.invariant


def test_the_wait_for_property_is_outside_the_fragment():
    r = prove_all_n(_build("dynamic"), BY_ID["no-fence-wait-deadlock"], PROPERTIES, timeout=60)
    assert r.status == UNKNOWN
    assert r.note.startswith("cannot prove for all N in this fragment")
    assert "cycles of one instance" in r.note


def test_a_seeded_bug_is_violated_at_a_small_n():
    r = prove_all_n(_build("static", "B1"), BY_ID["no-migration-while-mapped"], PROPERTIES, timeout=60)
    assert r.status == VIOLATED and r.counterexample.length == 6 and r.importers == 1


def test_without_lemmas_the_counterexample_to_induction_is_printed_in_model_vocabulary():
    prop = BY_ID["no-migration-while-mapped"]
    r = prove_all_n(_build("static"), prop, PROPERTIES, timeout=60, lemmas=False)
    assert r.status == UNKNOWN and r.cti is not None
    cti = r.cti
    n = cti.before.importers
    # a real step at N = n, or (when the CTI's states are outside what N = n can encode) z3's own reading
    assert cti.action in ("migrate_end", "migrate_end (in z3's counting abstraction)")
    assert set(cti.before.values) == {"storage", "pins", "owner", "exp", "exp_ref", "released", "ref", "att", "map",
                                      "loc", "stale", "fence"}
    assert cti.before.values["exp"] == "WAIT" and len(cti.before.values["map"]) == n
    # the pair is a real step of the model with n importers: P before, not P after
    model = r1.build(n, "static")
    c = Compiled(model)
    holds = c.predicate("cti_p", c.condition(prop.predicate(model), prop.id))
    before, after = c.layout.encode(cti.before.values), c.layout.encode(cti.after.values)
    assert holds(before) and not holds(after)
    assert any(nxt == after for _, nxt in c.successors(before))


def test_user_lemmas_complete_the_proof():
    def lemmas(m):
        mp, exp, owner, pins = m.variable("map"), m.variable("exp").ref(), m.variable("owner").ref(), \
            m.variable("pins").ref()
        procs = m.index_sets["importers"]
        return [pins == count(procs, lambda j: mp[j] == 1),
                forall(procs, lambda j: (mp[j] == 1).implies(exp == "IDLE")),
                (exp == "WAIT").implies(owner == "EXP")]

    r = prove_all_n(_build("static"), BY_ID["no-migration-while-mapped"], PROPERTIES, timeout=120,
                    user_lemmas=lemmas, lemmas=False)
    assert r.status == PROVED and r.certificate.checked
    assert "exp = WAIT ⇒ owner = EXP" in r.certificate.invariant


def test_a_count_under_a_quantifier_is_reported_outside_the_fragment():
    from dmabuf_check.properties.base import Property

    def predicate(m):
        mp, procs = m.variable("map"), m.index_sets["importers"]
        return forall(procs, lambda i: count(procs, lambda j: mp[j] == mp[i]) >= 1, "i")

    r = prove_all_n(_build("static"), Property("same-map", "", (), "test", build=predicate), PROPERTIES, timeout=30)
    assert r.status == UNKNOWN and "depends on the variable of an enclosing quantifier" in r.note


def test_a_cti_step_is_named_by_asking_z3_when_its_model_does_not_say(monkeypatch):
    # z3's model may leave a disjunct with quantifiers symbolic; then each action is asked with both states pinned
    from dmabuf_check.checker.z3 import alln

    monkeypatch.setattr(alln, "_real_step", lambda *a: None)
    monkeypatch.setattr(alln, "_cti_action", lambda *a: alln.UNNAMED)
    r = prove_all_n(_build("static"), BY_ID["no-migration-while-mapped"], PROPERTIES, timeout=60, lemmas=False)
    assert r.cti is not None and r.cti.action == "migrate_end (in z3's counting abstraction)"
