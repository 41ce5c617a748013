"""The seeded-bug library: each bug is reported with its intended property and a shortest trace that replays."""

import pytest
from dmabuf_check.checker import paths
from dmabuf_check.checker.api import check_model
from dmabuf_check.checker.explicit.search import Limits, explore
from dmabuf_check.checker.result import VIOLATED
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.properties.base import DEADLOCK, LIVENESS

from dmabuf_check.registry import bugs, build

BUGS = sorted(bugs())
CLASSES = {
    "lifetime/refcount", "map/attach bracketing", "migration without notify", "migration while pinned",
    "stale mapping", "fence order and signalling", "ww_mutex misuse", "lock held across a fence wait",
    "allocation in the signalling path", "CPU-access bracketing", "vmap counting",
}


def test_library_size_and_coverage():
    assert len(BUGS) >= 20
    kinds = {bugs()[b].bug.kind for b in BUGS}
    assert CLASSES <= kinds | {"migration without fence wait"}
    for name in BUGS:
        bug = bugs()[name].bug
        assert bug.source and bug.change and bug.rules and bug.base


def replay(model, cex):
    """Replay a counterexample through the compiled model's own guards and effects."""
    c = Compiled(model)
    ks = [c.instance_index(s.action, tuple(p - 1 for p in s.params)) for s in cex.steps]
    steps, final = paths.replay_instances(c, ks)
    assert [s.state for s in steps] == [s.state for s in cex.steps]
    return c, final


@pytest.mark.parametrize("name", BUGS)
def test_bug_is_reported_with_its_property_and_a_replaying_trace(name):
    ref = bugs()[name]
    model, _info, props = build(ref)
    r = check_model(model, props, stop_at_first=False, limits=Limits())  # a program bug may be a liveness one
    violated = {v.property: v for v in r.violated}
    assert ref.bug.property in violated, f"{name}: {sorted(violated)}"
    # never only a stuck state: the specific property is there whenever a deadlock is (unless the bug is a
    # hang that is nothing but a stuck state: a lost wakeup)
    assert set(violated) - {"no-stuck-state"} or ref.bug.property == "no-stuck-state"
    v = violated[ref.bug.property]
    assert v.status == VIOLATED
    assert set(ref.bug.rules) & set(v.rules), "the property reports a rule the bug breaks"
    c, final = replay(model, v.counterexample)
    prop = next(p for p in props if p.id == ref.bug.property)
    if prop.kind == LIVENESS:  # a lasso: tests/test_driver_programs.py pins its length
        assert v.counterexample.loop is not None
        return
    if prop.kind == DEADLOCK:  # a state where no thread can move, and not every thread returned
        assert not c.successors(final)
        return
    holds = c.predicate(f"p_{prop.id.replace('-', '_')}", c.condition(prop.predicate(model), prop.id))
    assert not holds(final), "the replayed trace must end in a state that violates the property"
    # shortest: checking the property alone finds no shorter trace
    alone = explore(model, [prop])
    assert alone.verdict(prop.id).counterexample.length == v.counterexample.length


def test_the_base_designs_of_the_library_are_correct():
    from dmabuf_check.registry import builtin

    for name in {bugs()[b].bug.base for b in BUGS}:
        ref = builtin()[name]
        model, _info, props = build(ref, mix=None if name != "ttm-evict" else "dynamic=2")
        assert explore(model, props).ok, name
