"""Seeded bugs B1-B6: the right property, a shortest counterexample, and a trace that replays."""

import pytest
from dmabuf_check.checker import paths
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.checker.result import VIOLATED
from dmabuf_check.model import r1
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.properties.r1 import PROPERTIES

from tests.conftest import load_expected

EXP = load_expected()
CASES = [
    (b, kind, int(n), length)
    for b, kinds in EXP["shortest_counterexample"].items()
    for kind, by_n in kinds.items()
    for n, length in by_n.items()
]


def _replay_final_state(model, cex):
    """Replay the counterexample through the model's guards and effects; return the last state."""
    c = Compiled(model)
    ks = [c.instance_index(s.action, tuple(p - 1 for p in s.params)) for s in cex.steps]
    steps, final = paths.replay_instances(c, ks)
    assert [s.state for s in steps] == [s.state for s in cex.steps]
    return c, final


@pytest.mark.parametrize("symmetry", [True, False], ids=["sym", "nosym"])
@pytest.mark.parametrize("variant,kind,n,length", CASES, ids=[f"{b}-{k}-N{n}" for b, k, n, _ in CASES])
def test_variant_reports_named_property_with_shortest_trace(variant, kind, n, length, symmetry):
    model = r1.build(n, kind, variant)
    r = explore(model, PROPERTIES, symmetry=symmetry)
    violated = [v for v in r.verdicts if v.status == VIOLATED]
    assert [v.property for v in violated] == [EXP["property"][variant]]
    cex = violated[0].counterexample
    assert cex.length == length
    c, final = _replay_final_state(model, cex)
    prop = next(p for p in PROPERTIES if p.id == EXP["property"][variant])
    holds = c.predicate(f"p_{variant}", c.condition(prop.predicate(model), prop.id))
    assert not holds(final)
    if variant == "B4":
        assert cex.detail.startswith("exporter -> fence ")
        assert "lock resv -> exporter" in cex.detail


def test_b4_is_not_a_global_deadlock():
    """B4's deadlock is a wait-for cycle while other importers keep moving: no-stuck-state alone misses it."""
    model = r1.build(2, "dynamic", "B4")
    stuck_only = [p for p in PROPERTIES if p.id == "no-stuck-state"]
    r = explore(model, stuck_only, symmetry=True)
    # a stuck state exists too, but only later: the wait-for cycle is found 5 steps earlier
    assert r.verdicts[0].counterexample.length > 8


def test_keep_going_reports_each_property_with_its_own_shortest_trace():
    model = r1.build(2, "dynamic", "B4")
    r = explore(model, PROPERTIES, stop_at_first=False)
    lengths = {v.property: v.counterexample.length for v in r.violated}
    assert lengths == {"no-fence-wait-deadlock": 8, "no-stuck-state": 13}
    assert r.complete


@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_correct_model_has_no_wait_for_cycle_candidates(kind):
    from dmabuf_check.properties import waitfor

    assert waitfor.candidate_cycles(r1.build(3, kind)) == []
    assert len(waitfor.candidate_cycles(r1.build(3, "dynamic", "B4"))) == 3  # one per importer's fence
