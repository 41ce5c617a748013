"""Liveness of designs (issue 9 item 7): every fence signals and every started call returns, with the devices
and every started call strongly fair and the environment eventually starting no new call."""

from __future__ import annotations

import pytest
from dmabuf_check.checker.api import check_model
from dmabuf_check.checker.explicit.liveness import LeadsTo, build_graph
from dmabuf_check.model.expr import MemberConst
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.properties.base import LIVENESS
from dmabuf_check.traces.format import load
from dmabuf_check.traces.replay import replay

from dmabuf_check import registry
from dmabuf_check.cli.main import main

LIVE = ("fence-eventually-signals", "calls-return")


def _check(name: str):
    ref = registry.resolve(name)
    m, _info, props = registry.build(ref, liveness=True)
    r = check_model(m, props, stop_at_first=False)
    return r, {v.property: (v.status, v.counterexample.length if v.counterexample else None) for v in r.verdicts}


@pytest.mark.parametrize("name", ["ttm-vram", "gem-prime", "system-heap", "udmabuf", "vb2-camera", "ttm-evict"])
def test_the_built_in_designs_are_live(name):
    r, out = _check(name)
    assert r.ok, out
    assert out["calls-return"] == out["fence-eventually-signals"] == ("holds", None)


def test_the_2011_stalling_migration_waits_on_importers_forever():
    """RFC 2011's migration stalls until every importer puts its mapping back: nothing makes an importer do so,
    so the call never returns once one keeps its mapping (what dynamic importers and move_notify fixed)."""
    r, out = _check("rfc2011-reference")
    assert out["calls-return"] == ("violated", 4)
    cex = next(v.counterexample for v in r.verdicts if v.property == "calls-return")
    assert [s.action for s in cex.steps] == ["get", "attach_static", "map_static", "migrate"]
    assert cex.loop == 4  # it stutters there: no step of the system can run


@pytest.mark.parametrize("bug,prop,length", [
    ("bug-evict-null-ctx", "calls-return", 13),  # the same ABBA deadlock no-fence-wait-deadlock finds in 13
    ("bug-ww-ignore-edeadlk", "calls-return", 13),
    ("bug-map-takes-resv", "calls-return", 4),  # no-recursive-lock in 4
    ("bug-umem-nested-unlocked", "calls-return", 3),
    ("bug-lock-across-fence-wait", "fence-eventually-signals", 4),  # the wait-for cycle in 4
    ("bug-signal-takes-resv", "fence-eventually-signals", 7),
])
def test_deadlocks_are_liveness_violations_too(bug, prop, length):
    _r, out = _check(bug)
    assert out[prop] == ("violated", length)


def test_a_call_whose_checks_chose_the_other_branch_is_not_a_hang():
    """v5.7 attach of a static importer to a dynamic exporter: the model picks "with migration" at the first
    step and checks the placement under the lock; where the check fails the kernel took the plain branch.
    Without that reading calls-return reported a 3-step stutter there."""
    _r, out = _check("bug-pin-no-moving-wait")
    assert out["calls-return"] == ("holds", None) and out["kernel-fence-first"] == ("violated", 7)


def test_a_stream_of_new_submissions_is_not_the_designs_bug():
    """udmabuf: a CPU reader waits in begin_cpu_access while two importers keep submitting GPU writes. With
    every action allowed in the loop that starvation is a fair lasso; the design's property assumes that the
    environment eventually starts no new call, and holds."""
    ref = registry.resolve("udmabuf")
    m, _info, props = registry.build(ref, liveness=True)
    prop = next(p for p in props if p.id == "calls-return")
    c = Compiled(m)
    g = build_graph(c)
    strong = {k for k, inst in enumerate(c.instances) if inst.action.name in prop.strongly_fair(m)}
    loop = {k for k, inst in enumerate(c.instances) if inst.action.name in prop.loop_of(m)}
    pc = m.variable("pc")
    reader = MemberConst(m.index_sets["importers"], 2)
    p, q = pc[reader] != "IDLE", pc[reader] == "IDLE"
    flooded = LeadsTo(g, c.condition(p, "p"), c.condition(q, "q"), set(), "flood_any", strong, None).find()
    assert flooded is not None
    path, at = flooded
    assert any(c.instances[k].action.name.startswith("submit_") for k in path[at:])
    assert LeadsTo(g, c.condition(p, "p"), c.condition(q, "q"), set(), "flood_sys", strong, loop).find() is None


def test_strong_fairness_is_what_lets_a_lock_waiter_through():
    """A waits for a lock that B takes and drops forever: A's step is enabled only now and then, so weak
    fairness lets A starve; strong fairness (the kernel mutex hands the lock to its waiter) does not."""
    from dmabuf_check.model.lang import Model, assign
    from dmabuf_check.model.types import BOOL

    m = Model("handoff")
    lk = m.var("lk", BOOL, 0)
    a = m.var("a", BOOL, 0)
    m.action("b_take", lk == 0, [assign(lk, 1)])
    m.action("b_drop", lk == 1, [assign(lk, 0)])
    m.action("a_go", (a == 0) & (lk == 0), [assign(a, 1)])
    c = Compiled(m)
    g = build_graph(c)
    every = set(range(len(c.instances)))
    p, q = c.condition(a == 0, "p"), c.condition(a == 1, "q")
    weak = LeadsTo(g, p, q, every, "handoff_weak").find()
    assert weak is not None
    path, at = weak
    assert {c.instances[k].action.name for k in path[at:]} == {"b_take", "b_drop"}  # A never goes
    assert LeadsTo(g, p, q, set(), "handoff_strong", strong=every).find() is None


def test_check_liveness_on_a_design_from_the_command_line(tmp_path, capsys):
    out_dir = tmp_path / "traces"
    assert main(["check", "bug-map-takes-resv", "--liveness", "--quiet", "--keep-going",
                 "--trace-dir", str(out_dir)]) == 1
    text = capsys.readouterr().out
    assert "calls-return violated a lasso of 4 steps" in text
    trace = next(p for p in out_dir.glob("*.json") if "calls-return" in p.name)
    t = load(trace)
    assert t.is_lasso and t.property.kind == LIVENESS
    report = replay(t)
    assert report.ok, report.summary()
    assert main(["check", "ttm-vram", "--quiet"]) == 0  # without --liveness: safety only, as before
    assert not set(LIVE) & set(capsys.readouterr().out.split())


def test_a_lasso_whose_loop_starts_a_new_call_is_refused(tmp_path):
    """The replayer checks the assumption too: a loop that starts a call is no counterexample of a design's
    liveness property."""
    from dmabuf_check.traces.evaluate import Judge

    ref = registry.resolve("udmabuf")
    m, _info, props = registry.build(ref, liveness=True)
    prop = next(p for p in props if p.id == "calls-return")
    j = Judge(m, prop)
    c = j.c
    get = next(k for k, inst in enumerate(c.instances) if inst.action.name == "get")
    put = next(k for k, inst in enumerate(c.instances) if inst.action.name == "put")
    s0 = c.initial
    plug = next(k for k, inst in enumerate(c.instances) if inst.action.name == "plug_importers")
    s1 = c.step(s0, plug)
    s2 = c.step(s1, get)
    s3 = c.step(s2, put)
    assert s3 == s1
    problems = j.lasso_problems([s0, s1, s2, s3], [plug, get, put], 1)
    assert any("the loop starts a new call" in p for p in problems)
