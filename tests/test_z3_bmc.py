"""BMC with z3: shortest counterexamples equal to BFS and to the independently measured figures."""

from __future__ import annotations

import pytest
from conftest import load_expected
from dmabuf_check.checker import paths
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.checker.z3.bmc import bmc
from dmabuf_check.checker.z3.proof import UNKNOWN, VIOLATED
from dmabuf_check.model import r1
from dmabuf_check.model.lang import Model, assign
from dmabuf_check.model.pycompile import Compiled, DomainError
from dmabuf_check.model.types import Range
from dmabuf_check.properties.base import Property
from dmabuf_check.properties.r1 import PROPERTIES

BY_ID = {p.id: p for p in PROPERTIES}
EXPECTED = load_expected()
CASES = [(variant, kind, int(n), length)
         for variant, kinds in EXPECTED["shortest_counterexample"].items()
         for kind, sizes in kinds.items()
         for n, length in sizes.items()]


def replays(model: Model, cex, prop: Property) -> bool:
    """The counterexample's steps fire in order in the compiled model and end in a violating state."""
    c = Compiled(model)
    path = [c.instance_index(s.action, tuple(p - 1 for p in s.params)) for s in cex.steps]
    steps, last = paths.replay_instances(c, path)
    violated = not c.predicate(f"check_{prop.id}".replace("-", "_"), c.condition(prop.predicate(model), prop.id))(last)
    return violated and [s.state for s in steps] == [s.state for s in cex.steps]


@pytest.mark.parametrize("variant,kind,n,length", CASES)
def test_bmc_shortest_counterexample_matches_expected_and_bfs(variant, kind, n, length):
    model = r1.build(n, kind, variant)
    prop = BY_ID[EXPECTED["property"][variant]]
    result = bmc(model, [prop], max_depth=length + 3)[0]
    assert result.status == VIOLATED
    assert result.counterexample.length == length == result.depth
    bfs = explore(model, [prop]).verdict(prop.id)
    assert bfs.counterexample.length == length
    assert replays(model, result.counterexample, prop)
    if variant == "B4":
        assert result.counterexample.detail.startswith("exporter -> fence ")
        assert result.counterexample.detail.endswith(" -> lock resv -> exporter")


def test_bmc_reports_every_violated_property_of_a_variant_at_its_own_shortest_depth():
    model = r1.build(2, "static", "B1")
    results = {r.property: r for r in bmc(model, PROPERTIES, max_depth=10)}
    explicit = explore(model, PROPERTIES, stop_at_first=False)
    for v in explicit.verdicts:
        if v.status == VIOLATED:
            assert results[v.property].status == VIOLATED
            assert results[v.property].counterexample.length == v.counterexample.length
        else:  # BMC never claims a property holds
            assert results[v.property].status == UNKNOWN


def test_bmc_never_proves_a_correct_model():
    r = bmc(r1.build(2, "dynamic"), [BY_ID["map-after-attach"]], max_depth=6)[0]
    assert r.status == UNKNOWN and r.depth == 6
    assert "no violation up to depth 6" in r.note


def test_a_solver_timeout_is_reported_as_unknown():
    r = bmc(r1.build(3, "dynamic"), [BY_ID["release-is-final"]], max_depth=500, timeout=0.3)[0]
    assert r.status == UNKNOWN
    assert r.depth < 500


def _overflowing_model() -> Model:
    m = Model("overflow")
    x = m.var("x", Range(0, 2), 0)
    m.action("inc", x < 5, [assign(x, x + 1)])
    return m


def test_a_domain_error_is_raised_like_the_explicit_engine():
    m = _overflowing_model()
    prop = Property("x-small", "x stays below 9", (), "test", build=lambda mm: mm.variable("x").ref() < 9)
    with pytest.raises(DomainError) as explicit:
        explore(m, [prop])
    with pytest.raises(DomainError) as z3_side:
        bmc(m, [prop], max_depth=5)
    assert str(z3_side.value) == str(explicit.value)
