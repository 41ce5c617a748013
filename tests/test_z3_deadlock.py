"""Wait-for deadlocks: candidate cycles are either reached (a trace) or proved unreachable."""

from __future__ import annotations

from dmabuf_check.checker import paths
from dmabuf_check.checker.z3.deadlock import deadlock_reachability
from dmabuf_check.checker.z3.proof import PROVED, VIOLATED
from dmabuf_check.model import r1
from dmabuf_check.model.expr import Param, forall
from dmabuf_check.model.lang import Model, Waits, assign
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.model.types import BOOL, Enum, Ref
from dmabuf_check.properties.r1 import PROPERTIES
from dmabuf_check.properties.waitfor import candidate_cycles


def test_b4_exporter_resv_fence_cycle_comes_back_as_a_trace():
    model = r1.build(2, "dynamic", "B4")
    verdicts, summary = deadlock_reachability(model, properties=PROPERTIES, timeout=60)
    assert summary == "2 candidate wait-for cycles: 2 reachable, 0 proved unreachable, 0 open"
    assert sorted(v.cycle for v in verdicts) == ["exporter -> fence 1 -> lock resv -> exporter",
                                                 "exporter -> fence 2 -> lock resv -> exporter"]
    c = Compiled(model)
    for v in verdicts:
        assert v.status == VIOLATED and v.counterexample.length == 8  # expected-R1.json: B4, 8 steps
        assert v.counterexample.detail == v.cycle
        path = [c.instance_index(s.action, tuple(p - 1 for p in s.params)) for s in v.counterexample.steps]
        steps, last = paths.replay_instances(c, path)
        state = c.layout.decode(last)
        assert state["exp"] == "WAIT" and state["owner"] == "EXP" and 1 in state["fence"]


def test_correct_r1_has_no_candidate_cycle():
    for kind in ("static", "dynamic"):
        model = r1.build(3, kind)
        assert candidate_cycles(model) == []
        verdicts, summary = deadlock_reachability(model)
        assert verdicts == [] and "no cycle" in summary


def _guarded_model(n: int) -> Model:
    """An exporter that waits for fences whose signal needs the lock it holds, but only starts with no fence."""
    m = Model("guarded", params={"importers": n})
    procs = m.index_set("importers", n, "importer")
    owner = m.var("owner", Ref(procs, "FREE", "EXP"), "FREE")
    exp = m.var("exp", Enum("exp", "IDLE", "WAIT"), "IDLE")
    fence = m.array("fence", procs, BOOL, 0)
    m.lock("resv", owner, "FREE", {"EXP": "exporter"})
    fences = m.fence_set("fence", procs, lambda j: fence[j] == 1, signal="signal")
    i = Param("i", procs)
    m.action("submit", (exp == "IDLE") & (owner == "FREE") & (fence[i] == 0), [assign(fence[i], 1)], params=(i,),
             actor="importers")
    s = Param("i", procs)
    m.action("signal", (fence[s] == 1) & (owner == "FREE"), [assign(fence[s], 0)], params=(s,), actor="hardware",
             signals=fences)
    m.action("exp_lock", owner == "FREE", [assign(owner, "EXP")])
    idle = forall(procs, lambda j: fence[j] == 0)
    m.action("begin", (owner == "EXP") & (exp == "IDLE") & idle, [assign(exp, "WAIT")])
    m.action("end", (exp == "WAIT") & idle, [assign(exp, "IDLE")], waits=Waits(fences, exp == "WAIT"))
    m.action("exp_unlock", (owner == "EXP") & (exp == "IDLE"), [assign(owner, "FREE")])
    return m


def test_a_candidate_cycle_that_no_reachable_state_has_is_proved_unreachable():
    model = _guarded_model(2)
    assert len(candidate_cycles(model)) == 2
    for engine in ("kind", "chc"):
        verdicts, summary = deadlock_reachability(model, engine=engine, depth=12, timeout=60)
        assert summary == "2 candidate wait-for cycles: 0 reachable, 2 proved unreachable, 0 open"
        for v in verdicts:
            assert v.status == PROVED and v.certificate.checked
