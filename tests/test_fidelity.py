"""Verdicts follow the kernel of the generation they claim: each test names the kernel function and version."""

from __future__ import annotations

import pytest
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.model.compose import build
from dmabuf_check.model.design import Design, Op
from dmabuf_check.model.profiles import profile
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.catalog import for_model

BASIC = {"map": Op(), "unmap": Op(), "release": Op()}

# drivers/gpu/drm/amd/amdgpu/amdgpu_dma_buf.c: amdgpu_dmabuf_ops (v6.x) has begin_cpu_access and no
# end_cpu_access; dma_buf_end_cpu_access() calls the op only if the exporter has one
AMDGPU_OPS = {"attach": Op(), "detach": Op(), "pin": Op(waits="KERNEL"), "unpin": Op(), "map": Op(),
              "unmap": Op(), "release": Op(), "begin_cpu_access": Op(locks=("resv",)), "mmap": Op(),
              "vmap": Op(pins=True), "vunmap": Op()}


def holds(d: Design, kernel: str, mix: str) -> bool:
    m, info = build(d, kernel, mix=mix)
    r = explore(m, list(for_model(m, info, profile(kernel))))
    return r.ok


def test_amdgpu_op_table_begin_cpu_access_without_end_is_accepted_and_holds():
    d = Design(name="amdgpu-ops", ops=AMDGPU_OPS, placements=("SYS", "VRAM"), kinds=("static", "dynamic", "cpu"))
    assert holds(d, "v6.16", "dynamic=1,cpu=1")


def test_end_cpu_access_without_begin_is_accepted():
    # dma_buf_begin_cpu_access(): "if (dmabuf->ops->begin_cpu_access)": each hook is optional on its own
    d = Design(name="end-only", ops={**BASIC, "end_cpu_access": Op(), "vmap": Op()}, kinds=("static", "cpu"))
    assert holds(d, "v6.16", "static=1,cpu=1")


def test_vunmap_without_vmap_is_accepted_and_never_called():
    # dma_buf_vmap() returns -EINVAL without ops->vmap, so dma_buf_vunmap() never reaches ops->vunmap
    d = Design(name="vunmap-only", ops={**BASIC, "vunmap": Op(locks=("resv",))})
    m, _info = build(d, "v6.16", mix="static=1")
    assert not any(a.name.startswith(("vmap", "vunmap")) for a in m.actions)


def test_mmap_op_is_refused_under_v3_3_where_dma_buf_ops_had_none():
    # v3.3's struct dma_buf_ops: attach, detach, map_dma_buf, unmap_dma_buf, release; mmap came in v3.5
    d = Design(name="mmap-v33", ops={**BASIC, "mmap": Op()})
    with pytest.raises(ModelError, match=r"the v3.3 contract has no mmap op \(dma_buf_ops.mmap came in v3.5: "
                                         r"4c78513e457f 'dma-buf: mmap support'\)"):
        build(d, "v3.3", mix="static=1")
    build(d, "v6.16", mix="static=1")  # accepted where it exists


# ---- generations: v5.7 / v5.8 / v5.9 / v6.6 --------------------------------------------------------

def violated(d: Design, kernel: str, mix: str) -> set[str]:
    m, info = build(d, kernel, mix=mix)
    r = explore(m, list(for_model(m, info, profile(kernel))), stop_at_first=False)
    return {v.property for v in r.verdicts if v.status == "violated"}


def submitting(usage: str) -> Design:
    # the exporter's own job: lock resv, reserve, unlock, relock, add (the reservation is not in this hold)
    from dmabuf_check.model.design import Submit

    return Design(name=f"submit-{usage.lower()}", ops=BASIC,
                  submit=Submit(locks=("resv",), usage=usage, reserve_first=False))


def test_v5_7_shared_fence_needs_a_slot_reserved_in_the_same_hold():
    # v5.7 dma_resv_add_shared_fence(): BUG_ON(fobj->shared_count >= fobj->shared_max) without
    # dma_resv_reserve_shared() in the same lock hold; dma_resv_add_excl_fence() needs no slot
    assert "fence-slot-reserved" in violated(submitting("READ"), "v5.7", "static=1")
    assert "fence-slot-reserved" not in violated(submitting("WRITE"), "v5.7", "static=1")
    # v5.19 dma_resv_add_fence(): every usage needs dma_resv_reserve_fences()
    assert "fence-slot-reserved" in violated(submitting("WRITE"), "v5.19", "static=1")


def test_p2p_importers_need_v5_8():
    # dma_buf_attach_ops.allow_peer2peer came with "dma-buf: add peer2peer flag" (v5.8)
    d = Design(name="p2p", ops={**BASIC, "pin": Op(), "unpin": Op()}, placements=("SYS", "VRAM"), p2p=True,
               kinds=("dynamic", "p2p"), mix={"dynamic": 1})
    with pytest.raises(ModelError, match=r"the v5.7 contract has no peer-to-peer importers \(dma_buf_attach_ops."
                                         r"allow_peer2peer came in v5.8"):
        build(d, "v5.7", mix="p2p=1")
    build(d, "v5.7", mix="dynamic=1")  # the design itself is fine, without p2p importers
    build(d, "v5.8", mix="p2p=1")


def lock_report(name: str, kernel: str):
    from dmabuf_check.checker.locks.order import analyze
    from dmabuf_check.checker.locks.rules import load
    from dmabuf_check.properties.base import DEADLOCK

    from dmabuf_check.registry import build as build_ref
    from dmabuf_check.registry import resolve

    model, _info, props = build_ref(resolve(name), kernel)
    return model, analyze(model, [p for p in props if p.kind == DEADLOCK or "deadlock" in p.id], load(None, model))


def test_fence_signalling_annotations_and_full_priming_come_in_v5_9():
    # 5b91575f3093 "dma-fence: basic lockdep annotations" and ee3fa130ea12 "dma-fence: prime lockdep
    # annotations" (v5.9): before them lockdep knew no dma_fence_map, and dma_resv_lockdep() primed only
    # mmap_lock -> ww_acquire -> resv -> fs_reclaim (2019)
    m57, rep57 = lock_report("bug-signal-allocates", "v5.7")
    assert not any("dma_fence_map" in a.holds + a.acquires for a in m57.actions)
    assert [(e.src, e.dst) for e in rep57.primed] == [("mmap_lock", "ww_acquire"), ("ww_acquire", "resv"),
                                                      ("resv", "fs_reclaim")]
    assert rep57.clean  # lockdep of v5.7 cannot see the reclaim -> fence-wait dependency
    m59, rep59 = lock_report("bug-signal-allocates", "v5.9")
    assert any(a.holds == ("dma_fence_map",) for a in m59.actions)
    assert ("mmu_notifier", "dma_fence_map") in [(e.src, e.dst) for e in rep59.primed]
    assert [[(e.src_class, e.dst_class) for e in c.edges] for c in rep59.cycles] == [[
        ("fs_reclaim", "mmu_notifier_invalidate_range_start"), ("mmu_notifier_invalidate_range_start", "dma_fence_map"),
        ("dma_fence_map", "fs_reclaim")]]


def test_core_holds_resv_around_mmap_in_v6_2_to_v6_5_only():
    # dma_buf_mmap_internal(): v6.2 took dma_resv_lock around ops->mmap ("Move dma_buf_mmap_internal() to
    # dynamic locking specification"); "dma-buf: Change locking policy for mmap()" dropped it in the 6.6 merge window
    def mmap_takes_resv(kernel: str) -> bool:
        from dmabuf_check.registry import build as build_ref
        from dmabuf_check.registry import resolve

        m, _info, _props = build_ref(resolve("gem-prime"), kernel, mix="cpu=1")
        return any(a.name.startswith("mmap") and "/* core, v6.2-v6.5 */" in a.call for a in m.actions)

    assert [k for k in ("v5.19", "v6.2", "v6.6", "v6.16") if mmap_takes_resv(k)] == ["v6.2"]
    _m, rep = lock_report("bug-mmap-resv-v62", "v6.2")
    assert rep.recursive
    _m, rep = lock_report("bug-mmap-resv-v62", "v6.6")
    assert rep.clean


# ---- device-side dependencies (implicit sync between devices) ---------------------------------------

def test_jobs_queue_behind_implicit_fences_and_conflicting_jobs_never_run_together():
    # SYNC-1/SYNC-2: a write depends on every implicit fence, a read on the writes; the scheduler runs a job
    # once they signaled (drm_sched_job_add_implicit_dependencies), with no CPU wait in the submitter
    from dmabuf_check.registry import build as build_ref
    from dmabuf_check.registry import resolve

    m, _info, props = build_ref(resolve("ttm-vram"), None, mix="dynamic=2")
    assert "implicit-sync-devices" in {p.id for p in props}
    r = explore(m, list(props))
    assert r.ok
    assert r.action_coverage["run_job_write"] > 0 and r.action_coverage["run_job_read"] > 0  # not vacuous
    assert "run_job_write" not in r.vacuous
    bug = resolve("bug-no-implicit-sync")
    m, _info, props = build_ref(bug)
    r = explore(m, list(props))
    [v] = [v for v in r.verdicts if v.status == "violated"]
    # the exporter's own rendering is a device access too: the importer's write starts beside it
    assert v.property == "implicit-sync-devices" and v.counterexample.length == 8  # maps pin (DMABUF_MOVE_NOTIFY=n)
    assert [s.action for s in v.counterexample.steps][-3:] == ["exp_submit", "submit_write_dynamic",
                                                               "submit_write_dynamic_2"]
    # without the exporter's jobs, two importers' writes run together
    from dataclasses import replace

    m, info = build(replace(bug.design, submit=None), None, mix="dynamic=2")
    r = explore(m, list(for_model(m, info, profile("v6.16"))))
    [v] = [v for v in r.verdicts if v.status == "violated"]
    assert v.property == "implicit-sync-devices" and v.counterexample.length == 14
    assert [s.action for s in v.counterexample.steps][-3:] == ["submit_write_dynamic_2", "submit_write_dynamic",
                                                               "submit_write_dynamic_2"]


# ---- pipelined moves and the exporter's own jobs: dependencies on the GPU, not waits on the CPU -------------

def _never(pred, name="witness"):
    from dmabuf_check.properties.base import Property

    return Property(name, "the state described is never reached", (), "", build=lambda m: ~pred(m))


def _reaches(d: Design, kernel: str, mix: str, pred, config: str | None = "DMABUF_MOVE_NOTIFY=y") -> int | None:
    """Length of the shortest run to a state where ``pred`` holds (None: unreachable)."""
    m, _info = build(d, kernel, mix=mix, config=config)
    r = explore(m, [_never(pred)])
    [v] = r.verdicts
    return v.counterexample.length if v.status == "violated" else None


def test_pipelined_move_hands_the_fences_to_the_copy_job_and_the_ghost_keeps_the_old_placement():
    # amdgpu_bo_move() -> amdgpu_move_blit() -> amdgpu_copy_buffer(..., bo->base.resv, ...): the copy job
    # syncs to the resv's fences (amdgpu_sync_resv, AMDGPU_SYNC_ALWAYS); ttm_bo_move_accel_cleanup() hands the
    # old placement to a ghost object freed when the copy's fence signals (v5.x-v6.16): the CPU never waits
    from dataclasses import replace

    from dmabuf_check.model.designs.ttm_vram import DESIGN as TTM

    m, _info = build(TTM, "v6.16", mix="dynamic=2", config="DMABUF_MOVE_NOTIFY=y")
    moves = [a for a in m.actions if a.name.startswith("move_to_")]
    assert moves and all(a.waits is None for a in moves)  # no dma_resv_wait_timeout in the move
    cpu = replace(TTM, move=replace(TTM.move, pipelined=False))  # ttm_bo_wait_ctx() + ttm_bo_move_memcpy()
    m2, _ = build(cpu, "v6.16", mix="dynamic=2", config="DMABUF_MOVE_NOTIFY=y")
    assert any(a.waits is not None for a in m2.actions if a.name.startswith("move_to_"))

    def behind(m):  # the copy is queued behind a job that still reads or writes the old placement
        from dmabuf_check.model.expr import exists

        job, loc, dep, storage = m.variable("job"), m.variable("loc"), m.variable("ef1dep"), m.variable("storage").ref()
        return exists(m.index_sets["importers"], lambda i: (job[i] != "NONE") & (loc[i] != storage)
                      & (dep[i] == "DEP"), "i") & (m.variable("ef1").ref() == "COPY")
    assert _reaches(TTM, "v6.16", "dynamic=2", behind) == 7
    r = run_cfg(TTM, "v6.16", "dynamic=2")
    assert r.ok and not r.vacuous and r.states == 1800
    # the copy that does not sync to the resv (resv = NULL): it moves the data under a running job
    blind = replace(TTM, name="copy-no-deps", move=replace(TTM.move, waits=None))
    assert violated_cfg(blind, "v6.16", "dynamic=2") == {"dma-targets-current-storage": 7,
                                                         "implicit-sync-devices": 7}
    # v5.7: a shared fence an importer's exclusive job dropped is still waited for, through that job
    r = run_cfg(TTM, "v5.7", "static=1,dynamic=2")
    assert r.ok and r.states == 9641
    narrow = replace(TTM, name="copy-excl-only", move=replace(TTM.move, waits="KERNEL"))  # the exclusive slot only
    assert violated_cfg(narrow, "v5.7", "dynamic=2") == {"dma-targets-current-storage": 7}


def test_the_exporter_s_own_job_depends_on_importer_jobs_and_counts_as_a_device_access():
    # amdgpu_cs_sync_rings() -> amdgpu_sync_resv(): the driver's own submission depends on the other devices'
    # implicit fences (SYNC-2) on the GPU; implicit-sync-devices counts the exporter's running job
    from dmabuf_check.model.designs.ttm_vram import DESIGN as TTM

    def waits_on_gpu(m):
        from dmabuf_check.model.expr import exists

        job, dep = m.variable("job"), m.variable("ef1dep")
        return (m.variable("ef1").ref() == "JOB") & exists(m.index_sets["importers"],
                                                           lambda i: (job[i] == "WRITE") & (dep[i] == "DEP"), "i")
    assert _reaches(TTM, "v6.16", "dynamic=2", waits_on_gpu, config=None) == 8


def run_cfg(d: Design, kernel: str, mix: str):
    m, info = build(d, kernel, mix=mix, config="DMABUF_MOVE_NOTIFY=y")
    return explore(m, list(for_model(m, info, profile(kernel))))


def violated_cfg(d: Design, kernel: str, mix: str) -> dict[str, int]:
    m, info = build(d, kernel, mix=mix, config="DMABUF_MOVE_NOTIFY=y")
    r = explore(m, list(for_model(m, info, profile(kernel))), stop_at_first=False)
    return {v.property: v.counterexample.length for v in r.verdicts if v.status == "violated"}


# ---- lock reports at lockdep's word -------------------------------------------------------------------

def test_fence_wait_in_a_signalling_section_is_not_printed_as_lockdep_recursion():
    # dma-fence.c __dma_fence_might_wait(): lock_map_release(&dma_fence_lockdep_map) before
    # lock_map_acquire(): lockdep never prints "possible recursive locking" for this wait
    from dataclasses import replace

    from dmabuf_check.checker.locks.order import analyze
    from dmabuf_check.checker.locks.rules import load
    from dmabuf_check.model.design import Signalling
    from dmabuf_check.properties.base import DEADLOCK
    from dmabuf_check.traces import lockdep

    from dmabuf_check.registry import builtin

    d = replace(builtin()["ttm-vram"].design, name="signal-waits", signalling=Signalling(waits=True))
    m, info = build(d, "v6.16", mix="dynamic=1")
    props = for_model(m, info, profile("v6.16"))
    rep = analyze(m, [p for p in props if p.kind == DEADLOCK or "deadlock" in p.id], load(None, m))
    [e] = rep.signalling_waits
    text = lockdep.render(rep)
    assert "possible recursive locking" not in text
    assert "dmabuf-check: fence wait inside a dma_fence signalling critical section (SIG-3, DL-12)" in text
    assert "__dma_fence_might_wait() drops the read hold on" in text
    assert "no wait-for cycle through this wait in this configuration" in text  # the waited fence is not modelled


def test_gfp_nofs_and_noio_record_only_the_mmu_notifier_map():
    # mm/page_alloc.c fs_reclaim_acquire(): __fs_reclaim_acquire() only with __GFP_FS; with any direct
    # reclaim the mmu_notifier_invalidate_range_start map; GFP_ATOMIC nothing
    from dmabuf_check.model.design import Signalling, Submit

    def sig_acquires(gfp):
        d = Design(name="alloc", ops=BASIC, submit=Submit(), signalling=Signalling(allocates=gfp))
        m, _info = build(d, "v6.16", mix="static=1")
        return m.action_named("signal_ef").acquires

    assert sig_acquires("GFP_KERNEL") == ("fs_reclaim",)
    assert sig_acquires("GFP_NOFS") == sig_acquires("GFP_NOIO") == ("mmu_notifier",)
    assert sig_acquires("GFP_ATOMIC") == ()
    d = Design(name="alloc-map", ops={**BASIC, "map": Op(allocates="GFP_NOIO")})
    m, _info = build(d, "v6.16", mix="static=1")
    assert m.action_named("map_static").acquires == ("resv", "mmu_notifier")
    # and the signalling path still breaks SIG-3 (DL-4: reclaim -> mmu notifier -> fence wait)
    d = Design(name="alloc-sig", ops=BASIC, submit=Submit(), signalling=Signalling(allocates="GFP_NOFS"))
    assert "sig-no-alloc" in violated(d, "v6.16", "static=1")


def test_exporter_vmap_and_vunmap_run_for_the_first_and_last_user_only():
    # dma_buf_vmap(): "if (dmabuf->vmapping_counter) { vmapping_counter++; ...; goto out }" before ops->vmap;
    # dma_buf_vunmap(): ops->vunmap only "if (--dmabuf->vmapping_counter == 0)"
    d = Design(name="vmap-users", locks=("vlock",), ops={**BASIC, "vmap": Op(locks=("vlock",)),
                                                          "vunmap": Op(locks=("vlock",))}, kinds=("cpu",), mix={"cpu": 2})
    m, info = build(d, "v6.16", mix="cpu=2")
    takes_vlock = sorted(a.name for a in m.actions if "vlock" in a.acquires)
    assert takes_vlock == ["vmap_2", "vunmap_2"]  # only the first-user / last-user paths call the exporter
    assert "vlock" not in m.action_named("vmap_again").acquires + m.action_named("vunmap_again").acquires
    r = explore(m, list(for_model(m, info, profile("v6.16"))))
    assert r.ok and r.action_coverage["vmap_again"] > 0 and r.action_coverage["vunmap_again"] > 0


def test_exporter_mmap_runs_under_mmap_lock_so_an_abba_with_a_fault_is_reported():
    # mm/mmap.c mmap_region() calls f_op->mmap (dma_buf_mmap_internal -> ops->mmap) with mmap_lock held for
    # write; a driver lock taken there and held elsewhere across copy_from_user() is lockdep's ABBA (DL-6)
    from dmabuf_check.checker.locks.order import analyze
    from dmabuf_check.checker.locks.rules import load
    from dmabuf_check.properties.base import DEADLOCK
    from dmabuf_check.traces import lockdep

    d = Design(name="mmap-abba", locks=("lk",), ops={**BASIC, "map": Op(locks=("lk",), faults=True),
                                                      "mmap": Op(locks=("lk",))},
               kinds=("static", "cpu"), mix={"static": 1, "cpu": 1})
    m, info = build(d, "v6.16", mix="static=1,cpu=1")
    assert "mmap_lock" in m.action_named("mmap").holds
    props = for_model(m, info, profile("v6.16"))
    rep = analyze(m, [p for p in props if p.kind == DEADLOCK or "deadlock" in p.id], load(None, m))
    pairs = [sorted((e.src_class, e.dst_class) for e in c.edges) for c in rep.cycles]
    assert [("mmap-abba:lk", "mmap_lock"), ("mmap_lock", "mmap-abba:lk")] in pairs
    assert "possible circular locking dependency detected" in lockdep.render(rep)


def test_abba_between_two_reservation_locks_is_reported_at_class_level_like_lockdep():
    # lockdep tracks lock classes: ww_mutex_lock(resv_b1, NULL) while holding resv_b0 (both
    # reservation_ww_class_mutex) is "possible recursive locking"; with a ww_acquire_ctx as nest_lock it is silent
    from dmabuf_check.traces import lockdep

    _m, rep = lock_report("bug-submit-null-ctx", None)
    text = lockdep.render(rep)
    assert "WARNING: possible recursive locking detected" in text
    assert " reservation_ww_class_mutex" in text and "reservation_ww_class_mutex:resv_b1" not in text
    assert "dmabuf-check: lockdep sees one class here; the instances form an ABBA (resv_b" in text
    assert "ACTUAL deadlock in this configuration" in text
    _m, rep = lock_report("bug-ww-ignore-edeadlk", None)
    text = lockdep.render(rep)
    assert "every acquisition under a ww acquire context: lockdep reports nothing" in text
    assert "-EDEADLK is not backed off (RESV-W2)" in text


# ---- kernel config options -----------------------------------------------------------------------

def test_config_dmabuf_move_notify_defaults_to_n_and_then_every_dynamic_map_pins():
    # dma_buf_map_attachment() (v5.7-v6.x): "if (!IS_ENABLED(CONFIG_DMABUF_MOVE_NOTIFY)) r = ops->pin(attach)";
    # Kconfig DMABUF_MOVE_NOTIFY is "EXPERIMENTAL", default n
    from dmabuf_check.registry import build as build_ref
    from dmabuf_check.registry import resolve

    m, _info, _props = build_ref(resolve("ttm-vram"), None, mix="dynamic=1")
    assert m.params["config"] == "DMABUF_MOVE_NOTIFY=n"
    assert any(a.name.startswith("map_dynamic") and "pins" in {e.target.decl.name for e in a.effects
                                                               if hasattr(e, "target")} for a in m.actions)
    bug = resolve("bug-move-no-notify")
    m, _info, props = build_ref(bug, None, config="DMABUF_MOVE_NOTIFY=n")
    assert explore(m, list(props)).ok  # pinned on map: the exporter cannot move a mapped buffer at all
    m, _info, props = build_ref(bug, None)  # the bug's own check: DMABUF_MOVE_NOTIFY=y
    assert m.params["config"] == "DMABUF_MOVE_NOTIFY=y"
    assert {v.property for v in explore(m, list(props)).violated} == {"no-migration-while-mapped"}
    with pytest.raises(ModelError, match="v3.3 has no option DMABUF_MOVE_NOTIFY"):
        build(Design(name="old", ops=BASIC), "v3.3", mix="static=1", config="DMABUF_MOVE_NOTIFY=y")
    with pytest.raises(ModelError, match=r"expected OPTION=y or OPTION=n, got 'DMABUF_MOVE_NOTIFY'"):
        build(Design(name="new", ops=BASIC), "v6.16", mix="static=1", config="DMABUF_MOVE_NOTIFY")


def test_v5_7_exclusive_fence_replaces_the_shared_ones():
    # v5.7 dma_resv_add_excl_fence(): "fobj->shared_count = 0" after installing the exclusive fence: the
    # readers' fences leave the resv while their jobs run; the writer's job must depend on them (implicit
    # sync collects them first), so waiting on the exclusive fence still waits for the readers
    from dmabuf_check.model.expr import forall
    from dmabuf_check.properties.base import Property

    from dmabuf_check.registry import build as build_ref
    from dmabuf_check.registry import resolve

    m, _info, props = build_ref(resolve("ttm-vram"), "v5.7", mix="dynamic=2")
    dropped, job = m.variable("dropped"), m.variable("job")
    idx = m.index_sets["importers"]
    never = Property("never-dropped", "no shared fence is ever dropped", (), "test",
                     build=lambda _m: forall(idx, lambda j: dropped[j] == "NO"))
    r = explore(m, [never])
    [v] = r.verdicts
    assert v.status == "violated"  # reachable: a write added while a read runs
    last = v.counterexample.steps[-1].state
    k = next(n for n, x in enumerate(last["dropped"]) if x != "NO")
    assert last["job"][k] == "READ"  # the reader still runs: only its fence left the resv
    assert explore(m, list(props)).ok  # with implicit sync the contract holds
    still_in_resv = Property("reader-visible", "", (), "test", build=lambda _m: forall(idx, lambda j: (
        job[j] == "READ").implies(dropped[j] == "NO")))
    m19, _i, _p = build_ref(resolve("ttm-vram"), "v5.19", mix="dynamic=2")
    assert not any(x.name == "dropped" for x in m19.variables)  # dma_resv_add_fence() keeps every usage
    assert explore(m, [still_in_resv]).verdicts[0].status == "violated"
    # the exporter's own exclusive jobs (gem-prime renders with WRITE fences) replace readers' fences too,
    # and run after them: every built-in design with fences keeps its contract under v5.7
    for name in ("gem-prime", "system-heap", "ttm-evict"):
        mm, _i, pp = build_ref(resolve(name), "v5.7")
        assert explore(mm, list(pp)).ok, name


def test_attach_time_cached_map_takes_resv_only_for_a_dynamic_exporter_before_v6_2():
    # v5.7 dma_buf_dynamic_attach(): list_add under resv, unlock; then for a mismatched pair
    # "if (dma_buf_is_dynamic(attach->dmabuf)) dma_resv_lock(...)" around map_dma_buf; from v6.2 always locked
    from dmabuf_check.registry import build as build_ref
    from dmabuf_check.registry import resolve

    def cached_map_locked(name: str, kernel: str, mix: str) -> bool:
        m, _info, _props = build_ref(resolve(name), kernel, mix=mix)
        steps = [a for a in m.actions if a.name.startswith("attach_")]
        assert any("/* list add */" in a.call and "resv" in a.acquires for a in steps)  # ATT-3 in every one
        return any("/* the cached map */" in a.call and "resv" in a.acquires for a in steps)

    # system-heap is a static exporter: a dynamic importer is the mismatched side
    assert not cached_map_locked("system-heap", "v5.7", "dynamic=1")
    assert not cached_map_locked("system-heap", "v5.19", "dynamic=1")
    assert cached_map_locked("system-heap", "v6.2", "dynamic=1")
    # ttm-vram is dynamic: its static importers' cached map is under resv in every generation that has it
    assert cached_map_locked("ttm-vram", "v5.7", "static=1") and cached_map_locked("ttm-vram", "v6.2", "static=1")


def test_signalling_rules_apply_before_the_lockdep_annotations_existed():
    # SIG-3 is about what a fence signalling path does; v5.7 merely had no dma_fence_map to tell lockdep.
    # The design fields that describe the path must still change the verdict there (no silent miss).
    from dmabuf_check.model.design import Signalling, Submit

    for kernel in ("v5.7", "v5.8", "v5.9", "v6.16"):
        base = Design(name="sig", ops=BASIC, submit=Submit())
        assert violated(base, kernel, "static=1") == set(), kernel
        allocates = Design(name="sig-alloc", ops=BASIC, submit=Submit(), signalling=Signalling(allocates="GFP_KERNEL"))
        assert "sig-no-alloc" in violated(allocates, kernel, "static=1"), kernel
        waits = Design(name="sig-wait", ops=BASIC, submit=Submit(), signalling=Signalling(waits=True))
        assert "sig-no-fence-wait" in violated(waits, kernel, "static=1"), kernel
    from dmabuf_check.registry import build as build_ref
    from dmabuf_check.registry import resolve

    m, _info, props = build_ref(resolve("bug-signal-takes-resv"), "v5.7")
    assert "sig-no-resv-lock" in {v.property for v in explore(m, list(props), stop_at_first=False).violated}


# ---- cache_sgt_mapping (MAP-11) and the cached table at detach (ATT-6) ---------------------------------

def _calls(m, prefix: str) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return [(a.name, a.acquires, a.holds) for a in m.actions if a.name.startswith(prefix)]


def test_cache_sgt_mapping_keeps_the_first_sg_table_until_detach_v5_3_to_v6_15():
    # v6.1 dma_buf_map_attachment(): "if (attach->sgt) ... return attach->sgt" before any exporter call;
    # dma_buf_unmap_attachment(): "if (attach->sgt == sg_table) return"; dma_buf_detach() unmaps it, inside
    # the list-del resv hold from v6.2, before it (no resv for a static exporter) in v5.x
    from dataclasses import replace

    from dmabuf_check.model.designs.gem_prime import DESIGN as GEM

    assert GEM.cache_sgt_mapping  # drm_gem_prime_dmabuf_ops.cache_sgt_mapping = true (v5.3-v6.15)
    d = replace(GEM, name="gem-lk", locks=("lk",), ops={**GEM.ops, "map": Op(locks=("lk",)), "unmap": Op(locks=("lk",))})
    m, _ = build(d, "v6.6", mix="static=1")
    assert _calls(m, "map_static_sgt") == [("map_static_sgt", ("resv",), ())]  # the _unlocked wrapper's resv only
    assert _calls(m, "unmap_static") == [("unmap_static", ("resv",), ())]  # no exporter unmap
    assert ("detach_static_sgt_2", ("lk",), ("resv",)) in _calls(m, "detach_static_sgt")  # unmap under resv
    m, _ = build(d, "v5.19", mix="static=1")
    assert ("detach_static_sgt", ("lk",), ()) in _calls(m, "detach_static_sgt")  # before the list-del hold
    # the table outlives the importer's unmap and is handed out again; every action is reachable
    def kept(m):
        from dmabuf_check.model.expr import exists

        sgt, mp = m.variable("sgt"), m.variable("map")
        return exists(m.index_sets["importers"], lambda i: (sgt[i] == 1) & (mp[i] == 0), "i")
    assert _reaches(d, "v6.6", "static=1", kept, config=None) == 7
    m, info = build(d, "v6.6", mix="static=2")
    r = explore(m, list(for_model(m, info, profile("v6.6"))))
    assert r.ok and not r.vacuous
    assert r.action_coverage["map_static_sgt"] > 0 and r.action_coverage["detach_static_sgt"] > 0
    # the flag changes the model where it exists, and nothing from v6.16 (b72f66f22c0e 'dma-buf: drop caching
    # of sg_tables'), where every map reaches the exporter
    off = replace(d, cache_sgt_mapping=False)
    assert explore(*_with_props(off, "v6.6")).states != explore(*_with_props(d, "v6.6")).states
    assert explore(*_with_props(off, "v6.16")).states == explore(*_with_props(d, "v6.16")).states


def _with_props(d: Design, kernel: str, mix: str = "static=2"):
    m, info = build(d, kernel, mix=mix)
    return m, list(for_model(m, info, profile(kernel)))


def test_cache_sgt_mapping_is_refused_with_pin_and_before_it_existed():
    # dma_buf_export(): pin/unpin are "mutually exclusive with cache_sgt_mapping" (REF-2)
    d = Design(name="cache-pin", ops={**BASIC, "pin": Op(), "unpin": Op()}, cache_sgt_mapping=True,
               kinds=("static", "dynamic"))
    with pytest.raises(ModelError, match="a cache_sgt_mapping exporter must not have pin/unpin"):
        build(d, "v6.6", mix="static=1")
    d = Design(name="cache-old", ops=BASIC, cache_sgt_mapping=True)
    with pytest.raises(ModelError, match=r"the v3.3 contract has no cache_sgt_mapping \(it came in v5.3"):
        build(d, "v3.3", mix="static=1")


def test_detach_unmaps_and_unpins_the_attach_time_table_in_its_own_hold_before_v6_2():
    # v5.7 dma_buf_detach(): "if (attach->sgt) { if (dma_buf_is_dynamic()) dma_resv_lock(); unmap_dma_buf();
    # if dynamic { dma_buf_unpin(); dma_resv_unlock(); } }" and only then the list-del hold; v6.2 does both
    # in one hold. The exporter's unmap and unpin ops run there (ATT-6)
    from dataclasses import replace

    from dmabuf_check.model.designs.ttm_vram import DESIGN as TTM

    d = replace(TTM, name="ttm-lk", locks=("lk",), ops={**TTM.ops, "unpin": Op(locks=("lk",))})
    old = _calls(build(d, "v5.19", mix="static=1")[0], "detach_static")
    new = _calls(build(d, "v6.2", mix="static=1")[0], "detach_static")
    assert [a[0] for a in old] == ["detach_static", "detach_static_2", "detach_static_3"]
    assert old[1] == ("detach_static_2", ("lk",), ("resv",))  # unpin inside the cached table's own hold
    assert [a[0] for a in new] == ["detach_static", "detach_static_2"]
    assert new[1] == ("detach_static_2", ("lk",), ("resv",))  # ... inside the list-del hold


def test_two_buffer_jobs_record_their_exporter_dependencies_too():
    # drm_exec over two BOs (the ww path): each job's scheduler collects the exporter's fences of its buffer
    from dmabuf_check.model.designs.ttm_vram import DESIGN as TTM

    m, info = build(TTM, "v6.16", mix="dynamic=1", buffers=2)
    r = explore(m, list(for_model(m, info, profile("v6.16"))))
    assert r.ok and r.states == 33912
