"""Building models from designs: steps and lock metadata, profiles, mixes, the command line around designs."""

import json
import os

import pytest
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.model.components.context import PRIMED_ORDER, TRANSIENT
from dmabuf_check.model.compose import build, parse_mix, resolve_mix
from dmabuf_check.model.design import Design, Move, Op, Signalling, Submit
from dmabuf_check.model.lockdep_names import work_map
from dmabuf_check.model.profiles import DEFAULT, PROFILES, profile
from dmabuf_check.properties.catalog import CATALOG, applicable, for_model

from dmabuf_check.cli.main import main
from dmabuf_check.registry import build as build_ref
from dmabuf_check.registry import builtin

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASIC = {"map": Op(), "unmap": Op(), "release": Op()}


def test_nine_generations_oldest_first_newest_by_default():
    assert list(PROFILES) == ["rfc2011", "v3.3", "v5.7", "v5.8", "v5.9", "v5.19", "v6.2", "v6.6", "v6.16"]
    assert profile(None).name == DEFAULT == "v6.16"


def test_a_call_with_two_locks_becomes_two_steps_with_accurate_lock_metadata():
    d = Design(name="two-locks", locks=("lock",), ops={**BASIC, "map": Op(locks=("lock",), allocates="GFP_KERNEL")})
    m, _info = build(d, "v6.16", mix="static=1")
    first, second = m.action_named("map_static"), m.action_named("map_static_2")
    assert first.acquires == ("resv",) and first.holds == ()  # the _unlocked wrapper takes resv
    assert second.holds == ("resv",) and second.acquires == ("lock", "fs_reclaim")  # map_dma_buf under resv
    assert second.waits is not None and second.waits.on.name == "lock"  # blocked on the driver lock
    # before v6.2 the core took no lock around a static importer's map: one step, the driver lock only
    m, _info = build(d, "v5.7", mix="static=1")
    assert m.action_named("map_static").acquires == ("lock", "fs_reclaim")
    assert not any(a.name == "map_static_2" for a in m.actions)


def test_signalling_path_runs_inside_the_fence_signalling_section():
    d = Design(name="sig", ops=BASIC, submit=Submit(), signalling=Signalling(allocates="GFP_KERNEL"))
    m, _info = build(d, mix="static=1")
    sig = m.action_named("signal_ef")
    assert sig.holds == ("dma_fence_map",) and sig.acquires == ("fs_reclaim",)


@pytest.mark.parametrize("name", sorted(builtin()))
def test_lock_metadata_names_only_known_locks(name):
    model, info, _props = build_ref(builtin()[name])
    # and the lockdep maps of the work items and timers among its threads
    actors = {a.actor for a in model.actions}
    known = {lk.name for lk in model.locks} | set(TRANSIENT) | set(PRIMED_ORDER) | {
        work_map(t, timer) for t in actors for timer in (False, True)}
    # a driver program's release inlined at a put that is never the last one is dead code: if it ran, it
    # would take the lock again (that is why the fixed program holds its own reference there)
    dead = getattr(info, "release_steps", set())
    for a in model.actions:
        assert set(a.acquires) <= known and set(a.holds) <= known, a.name
        if a.name in dead:
            continue
        held = [h for h in a.holds if h != "dma_fence_map"]
        assert len(held) == len(set(held)), f"{a.name} holds a lock twice"


def test_mix_parsing_and_the_design_default_mix():
    assert parse_mix("static=1, dynamic=2") == {"static": 1, "dynamic": 2}
    ttm = builtin()["ttm-vram"].design
    assert resolve_mix(ttm, None, None) == {"static": 1, "dynamic": 1, "p2p": 1}
    assert resolve_mix(ttm, None, 2) == {"static": 1, "dynamic": 1}
    assert resolve_mix(ttm, None, 5) == {"static": 2, "dynamic": 2, "p2p": 1}


def test_a_mixed_mix_plugs_importers_once_and_kinds_stay_constant():
    model, _info, props = build_ref(builtin()["gem-prime"], mix="static=1,cpu=2")
    plug = model.action_named("plug_importers")
    assert plug.actor == "setup"
    r = explore(model, props)
    assert r.ok and r.action_coverage["plug_importers"] == 1
    kind = model.variable("kind")
    assert not any(eff.target.decl is kind for a in model.actions if a.name != "plug_importers"
                   for eff in a.effects if hasattr(eff, "target"))


def test_properties_follow_the_profile():
    ids = {p: {r.id for r in applicable(PROFILES[p])} for p in PROFILES}
    assert "map-holds-resv" in ids["v6.2"] and "map-holds-resv" not in ids["rfc2011"]
    # RESV-A1 predates v5.19: a shared fence needed dma_resv_reserve_shared() in the same hold in v5.7 too
    assert "fence-slot-reserved" in ids["v5.19"] and "fence-slot-reserved" in ids["v5.7"]
    assert "fence-slot-reserved" not in ids["v3.3"]
    assert "kernel-fence-first" not in ids["v3.3"] and "cpu-access-bracketed" in ids["v6.16"]
    for r in CATALOG:
        assert r.rules and r.source and r.meaning


def test_properties_a_model_lacks_parts_for_are_left_out():
    model, info, _props = build_ref(builtin()["vb2-camera"])
    got = {p.id for p in for_model(model, info, profile("v6.16"))}
    assert "vmap-count" in got and "fence-context-order" not in got  # vb2 publishes no fences


def test_list_properties_for_a_profile(capsys):
    assert main(["list", "--properties", "--profile", "v6.2"]) == 0
    out = capsys.readouterr().out
    for word in ("map-holds-resv", "no-recursive-lock", "LOCK-1", "SIG-3"):
        assert word in out
    assert main(["list", "--properties", "--profile", "rfc2011"]) == 0
    assert "sig-no-resv-lock" not in capsys.readouterr().out


def test_list_designs_and_bugs(capsys):
    assert main(["list", "--designs", "--bugs"]) == 0
    out = capsys.readouterr().out
    for word in ("ttm-vram", "amdgpu_dma_buf.c", "bug-move-no-notify", "8ddf5b9bb479"):
        assert word in out


def test_check_builtin_design_by_name_exits_0(capsys, tmp_path):
    path = tmp_path / "r.json"
    assert main(["check", "udmabuf", "--quiet", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "all" in out and "properties hold" in out
    data = json.loads(path.read_text())
    assert data["ok"] is True


def test_check_design_file_with_a_bug_exits_1_with_a_trace(capsys):
    path = os.path.join(ROOT, "model", "designs", "bugs", "signal_takes_resv.py")
    assert main(["check", path, "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "sig-no-resv-lock violated" in out


def test_check_a_design_file_written_by_hand(tmp_path, capsys):
    f = tmp_path / "my_heap.py"
    f.write_text("from dmabuf_check.model.design import Design, Op\n"
                 "DESIGN = Design(name='my-heap', locks=('lock',),\n"
                 "    ops={'attach': Op(locks=('lock',)), 'map': Op(), 'unmap': Op(), 'release': Op()})\n")
    assert main(["check", str(f), "--quiet", "--importers", "2"]) == 0
    assert "my-heap" in capsys.readouterr().out


def test_move_without_resv_in_the_2011_contract_is_a_stall_migration():
    d = Design(name="stall", placements=("SYS", "VRAM"), move=Move(locks=(), notify=False, waits=None),
               allocate="first-map", ops=BASIC, kernel="rfc2011")
    m, info = build(d, mix="static=2")
    assert any(v.name == "migrating" for v in m.variables)
    r = explore(m, for_model(m, info, profile("rfc2011")))
    assert r.ok


def test_shared_resv_takes_the_ealready_path_under_an_acquire_context():
    from dataclasses import replace

    base = builtin()["ttm-evict"].design
    d = replace(base, name="shared", shared_resv=True)
    m, info = build(d, mix="dynamic=2")
    assert {"ww_ealready_b0", "ww_ealready_b1"} <= {a.name for a in m.actions}
    r = explore(m, for_model(m, info, profile("v6.16")))
    assert r.ok and r.action_coverage["ww_ealready_b1"] > 0


def test_python_api_and_saved_traces_of_a_design(tmp_path, capsys):
    from dmabuf_check.traces.replay import replay_file

    from dmabuf_check import check

    assert check("udmabuf", importers=2).ok
    assert [v.property for v in check("bug-move-no-notify").violated] == ["no-migration-while-mapped"]
    assert main(["check", "bug-fences-out-of-order", "--quiet", "--trace-dir", str(tmp_path)]) == 1
    capsys.readouterr()
    (trace,) = list(tmp_path.glob("*.trace.json"))
    report = replay_file(trace)
    assert report.ok, report


def test_no_op_flag_is_inert():
    """Every Op field on every op changes the design's model, or the design is refused in one line naming it."""
    from dataclasses import replace as rep

    from dmabuf_check.checker.z3.model_text import show_expr
    from dmabuf_check.model.design import OPS
    from dmabuf_check.model.types import ModelError
    from dmabuf_check.model.validate import validate

    def shape(d):
        m, _info = build(d, mix="static=1,cpu=1")
        return (tuple((a.name, a.call, a.acquires, a.holds, show_expr(a.guard)) for a in m.actions),
                tuple(v.name for v in m.variables))

    ops = {op: Op() for op in OPS if op not in ("pin", "unpin")}
    base = Design(name="probe", locks=("lk",), ops=ops, kinds=("static", "cpu"), mix={"static": 1, "cpu": 1})
    plain = shape(base)
    refused = []
    for op in ops:
        for field, value in (("locks", ("lk",)), ("waits", "WRITE"), ("allocates", "GFP_KERNEL"), ("pins", True),
                             ("faults", True)):
            d = rep(base, ops={**ops, op: rep(ops[op], **{field: value})})
            try:
                validate(d, profile("v6.16"))
            except ModelError as e:
                assert f"ops['{op}'].{field}" in str(e) and "\n" not in str(e)
                refused.append((op, field))
                continue
            assert shape(d) != plain, f"Op({field}=...) on {op} changes nothing"
    assert sorted(refused) == sorted([(op, "pins") for op in ops if op not in ("attach", "vmap")]
                                     + [("release", "waits")])


def _as_code(op: Op) -> Op:
    """The same callback written as code: its flags' steps replayed on the OpCode builder."""
    from dataclasses import replace as rep

    steps = op.steps()

    def code(k):
        for kind, arg in steps:
            {"lock": k.mutex_lock, "wait": k.dma_resv_wait_timeout}.get(kind, lambda *_: None)(arg) \
                if kind in ("lock", "wait") else (k.copy_from_user() if kind == "fault" else k.core())
    return rep(op, locks=(), waits=None, faults=False, code=code)


def test_the_flags_are_sugar_for_code():
    """Every built-in design and seeded bug, its ops rewritten as code, builds the identical model."""
    from dataclasses import replace as rep

    from dmabuf_check.checker.z3.model_text import show_expr

    from dmabuf_check.registry import bugs, builtin

    def shape(m):
        return (tuple((a.name, a.call, a.acquires, a.holds, show_expr(a.guard),
                       tuple(show_expr(e.value) for e in a.effects if hasattr(e, "value"))) for a in m.actions),
                tuple(v.name for v in m.variables))

    refs = [r for r in list(builtin().values()) + list(bugs().values()) if not r.is_program]
    for ref in refs:
        d = ref.design
        coded = rep(d, ops={k: _as_code(op) for k, op in d.ops.items()})
        kernel = ref.bug.kernel if ref.bug else None
        mix = ref.bug.mix if ref.bug else None
        a, _ = build(d, kernel, mix=mix, buffers=ref.bug.buffers if ref.bug else None)
        b, _ = build(coded, kernel, mix=mix, buffers=ref.bug.buffers if ref.bug else None)
        assert shape(a) == shape(b), ref.name
    assert len(refs) == 39


def test_code_says_what_flags_cannot_allocate_outside_the_lock():
    from dataclasses import replace as rep

    from dmabuf_check.model.types import ModelError

    from dmabuf_check.registry import builtin

    heap = builtin()["system-heap"].design

    def attach(k):  # dup_sg_table() before taking buffer->lock, as the heap really does
        k.kmalloc("GFP_KERNEL")
        k.mutex_lock("lock")
        k.core()

    flags, _ = build(heap, mix="static=1")
    coded, _ = build(rep(heap, ops={**heap.ops, "attach": Op(code=attach)}), mix="static=1")
    def attach_steps(m):
        return [(a.acquires, a.holds) for a in m.actions if a.name.startswith("attach_static")]

    # flags: the allocation runs under buffer->lock (lockdep records lock -> fs_reclaim); code: before it
    assert attach_steps(flags)[0] == (("lock", "fs_reclaim"), ())
    assert attach_steps(coded)[:2] == [(("fs_reclaim",), ()), (("lock",), ())]
    bad = rep(heap, ops={**heap.ops, "attach": Op(code=lambda k: k.mutex_unlock("lock"))})
    with pytest.raises(ModelError, match=r"ops\['attach'\].code: unlocks 'lock', which it does not hold"):
        build(bad, mix="static=1")


def test_thousands_of_wait_for_cycles_compile_without_exhausting_recursion():
    """system-heap with two buffers has 2,064 candidate wait-for cycles; their disjunction is a balanced tree
    (it used to be a chain that overflowed the type checker: RecursionError, exit 4)."""
    from dmabuf_check.checker.explicit.search import Limits
    from dmabuf_check.properties import waitfor

    from dmabuf_check.registry import build as build_ref
    from dmabuf_check.registry import builtin

    model, _info, props = build_ref(builtin()["system-heap"], buffers=2)
    assert len(waitfor.candidate_cycles(model)) == 2064
    r = explore(model, [p for p in props if p.id == "no-fence-wait-deadlock"], limits=Limits(max_states=2000))
    assert r.states >= 2000 and not r.violated
