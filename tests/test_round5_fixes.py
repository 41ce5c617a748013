"""What a round of users writing real kernel bugs found missing or misjudged, each with the behaviour now."""

from __future__ import annotations

import pytest
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError

from tests.test_driver_programs import holds, run


def no_fini(fini: bool) -> Driver:
    d = Driver("ww-fini")
    r = d.resv("r")

    @d.thread("t", kernel="drm_gem_lock_reservations() error path")
    def t(k):
        k.ww_acquire_init()
        k.dma_resv_lock(r, ctx=True)
        k.dma_resv_unlock(r)
        if fini:
            k.ww_acquire_fini()

    return d


def test_returning_with_an_active_acquire_context_is_a_lock_held_at_exit():
    # 2939deac1fa2 'drm/gem: Properly annotate WW context on drm_gem_lock_reservations() error'
    assert run(no_fini(False))[0] == {"lock-held-at-exit": 3}
    holds(no_fini(True))


def test_signalling_a_null_fence_is_the_kernels_warn_not_an_oops():
    d = Driver("signal-null")
    f = d.fence("ef", live=True, owners=("p",))
    p = d.pointer("process->ef", (f,))

    @d.thread("t", kernel="kfd: signal the eviction fence it read")
    def t(k):
        ef = k.ptr_load(p, var="ef")
        k.dma_fence_signal(ef)

    @d.thread("p")
    def holder(k):
        k.dma_fence_signal(f)
        k.dma_fence_put(f)

    assert run(d)[0] == {"driver-assert": 1}


def test_a_gpu_job_on_a_fence_made_at_run_time_runs_once_it_exists():
    d = Driver("gpu-unborn")
    f = d.fence("job", live=False)
    d.gpu("gpu", signals=f)

    @d.thread("submit")
    def submit(k):
        k.dma_fence_init(f)
        k.dma_fence_wait(f)
        k.dma_fence_put(f)

    assert holds(d) > 0


def eviction(long_lived: bool) -> Driver:
    d = Driver("eviction-fence")
    ef = d.fence("eviction_fence", live=True, owners=(d.holder("process"),), long_lived=long_lived)
    r = d.resv("bo->resv")

    @d.thread("map", kernel="amdgpu_amdkfd_gpuvm_map_memory_to_gpu(): attach the process's eviction fence")
    def attach(k):
        k.dma_resv_lock(r)
        k.dma_resv_reserve_fences(r)
        k.dma_resv_add_fence(r, ef, "BOOKKEEP")
        k.dma_resv_unlock(r)

    return d


def test_a_long_lived_fence_may_stay_pending():
    assert run(eviction(False))[0] == {"fence-signals": 4}
    holds(eviction(True))


def test_a_field_holds_what_its_range_holds():
    d = Driver("field")
    n = d.field("n", max_value=2)

    @d.thread("t")
    def t(k):
        k.set(n, -1)

    with pytest.raises(ModelError, match="n holds 0..2, got -1"):
        d.build()

    d2 = Driver("field2")
    m = d2.field("m", max_value=1, init=0)

    @d2.thread("t")
    def t2(k):
        k.set(m, m.value - 1, "m--")

    assert run(d2)[0] == {"driver-assert": 0}


def test_a_line_inlined_at_two_sites_is_not_dead_when_it_ran_at_one():
    from dmabuf_check.checker.explicit.search import explore

    from dmabuf_check.cli.cmd_check import _vacuous_lines
    from tests.test_driver_programs import safety

    d = Driver("sites")
    f = d.fence("never", live=True, owners=(d.holder("h"),), long_lived=True)

    def helper(k):
        k.might_sleep("the helper's line")

    @d.thread("t")
    def t(k):
        k.call(helper)
        k.goto_if(~f.signaled, "out")
        k.call(helper)  # never reached: the fence never signals
        k.label("out")

    m, info = d.build()
    r = explore(m, safety(m, info), symmetry=False, stop_at_first=False)
    assert len(r.vacuous) == 1  # the second site's step never ran
    lines, _internal = _vacuous_lines(m, r.vacuous)
    assert lines == []  # but its line ran at the first site


def two_bo_exec(interruptible: bool) -> Driver:
    """Two submits lock two BOs in opposite orders with drm_exec, reserving a fence slot on each; with
    DRM_EXEC_INTERRUPTIBLE_WAIT a signal or -ENOMEM ends the transaction through drm_exec_fini()."""
    d = Driver("exec")
    a, b = d.resv("a"), d.resv("b")
    for name, order in (("s1", (a, b)), ("s2", (b, a))):
        @d.thread(name)
        def submit(k, order=order):
            k.drm_exec_init()
            k.label("retry")
            for r in order:
                k.drm_exec_prepare_obj(r, retry="retry", **({"fail": "err"} if interruptible else {}))
            k.label("err")
            k.drm_exec_fini()
    return d


def test_drm_exec_prepare_with_its_error_paths_holds_and_its_own_steps_are_not_dead_code():
    for interruptible in (False, True):
        violated, vacuous, _states, _m = run(two_bo_exec(interruptible))
        assert violated == {} and vacuous == [], (interruptible, vacuous)


def test_locking_after_ww_acquire_done_is_the_ww_debug_warn():
    def make(late: bool) -> Driver:
        d = Driver("done")
        a, b = d.resv("a"), d.resv("b")

        @d.thread("t")
        def t(k):
            k.ww_acquire_init()
            k.dma_resv_lock(a, ctx=True)
            if not late:
                k.dma_resv_lock(b, ctx=True)
            k.ww_acquire_done()
            if late:
                k.dma_resv_lock(b, ctx=True)
            k.dma_resv_unlock(b)
            k.dma_resv_unlock(a)
            k.ww_acquire_fini()
        return d

    holds(make(False))
    assert run(make(True))[0] == {"ww-acquire-ctx": 3}


def test_lock_slow_interruptible_takes_its_error_path():
    d = Driver("slow")
    a, b = d.resv("a"), d.resv("b")
    for name, order in (("s1", (a, b)), ("s2", (b, a))):
        @d.thread(name)
        def t(k, order=order):
            first, second = order
            k.ww_acquire_init()
            k.dma_resv_lock(first, ctx=True)
            k.dma_resv_lock(second, ctx=True, edeadlk="backoff")
            k.goto("locked")
            k.label("backoff")
            k.dma_resv_unlock(first)
            k.dma_resv_lock_slow_interruptible(second, fail="eintr")
            k.dma_resv_unlock(second)
            k.goto("fini")
            k.label("locked")
            k.dma_resv_unlock(second)
            k.dma_resv_unlock(first)
            k.goto("fini")
            k.label("eintr")
            k.label("fini")
            k.ww_acquire_fini()
    violated, vacuous, _states, _m = run(d)
    assert violated == {} and vacuous == []


def abba(bug: bool) -> Driver:
    """7d2d6d01293e-like: madvise takes mappings.lock then pages_lock, the shrinker pages_lock then
    mappings.lock (the fix: a trylock of mappings.lock, which lockdep adds no dependency for)."""
    d = Driver("abba")
    mappings, pages = d.mutex("bo->mappings.lock"), d.mutex("shmem->pages_lock")

    @d.thread("madvise")
    def madvise(k):
        k.mutex_lock(mappings)
        k.mutex_lock(pages)
        k.mutex_unlock(pages)
        k.mutex_unlock(mappings)

    @d.thread("shrinker")
    def shrinker(k):
        k.mutex_lock(pages)
        if bug:
            k.mutex_lock(mappings)
        else:
            k.mutex_trylock(mappings, fail="busy")
        k.mutex_unlock(mappings)
        k.label("busy")
        k.mutex_unlock(pages)

    return d


def test_check_points_to_a_lock_order_cycle(capsys):
    from dmabuf_check.cli.cmd_check import _lock_order_cycle

    assert _lock_order_cycle(abba(True).build()[0]) == ["bo->mappings.lock", "shmem->pages_lock", "bo->mappings.lock"]
    assert _lock_order_cycle(abba(False).build()[0]) is None


def test_a_design_files_digest_covers_the_helpers_beside_it(tmp_path):
    from dmabuf_check.registry import resolve

    (tmp_path / "common_h5.py").write_text(
        "from dmabuf_check.model.driver import Driver\n"
        "def make():\n"
        "    d = Driver('hh')\n"
        "    f = d.fence('f', live=True, owners=('t',))\n"
        "    @d.thread('t')\n"
        "    def t(k):\n"
        "        k.dma_fence_signal(f)\n"
        "        k.dma_fence_put(f)\n"
        "    return d\n")
    top = tmp_path / "top_h5.py"
    top.write_text("import sys, os\nsys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"
                   "from common_h5 import make\nDESIGN = make()\n")
    first = resolve(str(top)).digest
    assert resolve(str(top)).digest == first  # the same on a second load (the helper already imported)
    (tmp_path / "common_h5.py").write_text((tmp_path / "common_h5.py").read_text() + "# edited\n")
    assert resolve(str(top)).digest != first


def test_the_exporters_vmap_runs_for_the_first_vmap_only():
    """dmabuf->vmapping_counter: two importers vmap; the exporter maps once and unmaps at the last vunmap."""
    d = Driver("vmap-count")
    maps = d.field("exporter_vmaps", max_value=2)

    def vmap(k):
        k.inc(maps, "vaddr = vm_map_ram(...)")
        k.ret(0)

    def vunmap(k):
        k.dec(maps, text="vm_unmap_ram(vaddr)")

    buf = d.dma_buf("buf", live=True, owners=("a", "b"), ops={"vmap": vmap, "vunmap": vunmap})
    d.invariant(lambda: maps.value <= 1, "the exporter's buffer is vmapped at most once")
    for name in ("a", "b"):
        @d.thread(name)
        def importer(k):
            k.dma_buf_vmap(buf)
            k.cpu_access(buf, "memcpy from the vmap")
            k.dma_buf_vunmap(buf)
            k.dma_buf_put(buf)
    violated, vacuous, _states, _m = run(d)
    assert violated == {} and vacuous == []  # both the cached vmap and the first one happen


def test_a_helpers_error_can_be_branched_on_by_its_value():
    """ttm_bo_swapout()-like: -EBUSY means 'try the next BO', -ENOSPC 'give up' (70982eef4d7e needed a field)."""
    d = Driver("errno")
    busy, nospc = d.field("tried_next"), d.field("gave_up")

    def swap_one(k):
        k.may_goto("busy", "if (!ttm_bo_evict_swapout_allowable(bo))")
        k.may_goto("full", "if (swap space is full)")
        k.ret(0)
        k.label("busy")
        k.ret("-EBUSY")
        k.label("full")
        k.ret("-ENOSPC")

    @d.thread("swapout")
    def swapout(k):
        k.call(swap_one, fail={"-EBUSY": "next", "*": "out"})
        k.ret(0)
        k.label("next")
        k.set(busy, 1)
        k.ret(0)
        k.label("out")
        k.set(nospc, 1)

    violated, vacuous, _states, m = run(d)
    assert violated == {} and vacuous == []
    texts = [a.kernel for a in m.actions]
    assert "tried_next = 1" in texts and "gave_up = 1" in texts

    d2 = Driver("errno2")

    def only_busy(k):
        k.may_goto("e", "fails")
        k.ret(0)
        k.label("e")
        k.ret("-ENOMEM")

    @d2.thread("t")
    def t(k):
        k.call(only_busy, fail={"-EBUSY": "x"})
        k.label("x")

    with pytest.raises(ModelError, match="returns -ENOMEM, which its caller's fail= does not name"):
        d2.build()


def test_every_call_takes_its_text_positionally_too():
    d = Driver("texts")
    lk = d.spinlock("ring->lock")
    f = d.fence("f", live=True, owners=("t",))

    @d.thread("t")
    def t(k):
        k.spin_lock(lk, "spin_lock(&ring->lock)")
        k.dma_fence_signal(f, "dma_fence_signal(&job->hw_fence)")
        k.spin_unlock(lk, "spin_unlock(&ring->lock)")
        k.dma_fence_put(f, "dma_fence_put(&job->hw_fence)")

    m, _info = d.build()
    calls = [a.call for a in m.actions if a.actor == "t"]
    assert calls[0] == "spin_lock(&ring->lock)" and "spin_unlock(&ring->lock)" in calls
    assert calls[-1] == "dma_fence_put(&job->hw_fence)"


def test_a_helper_call_takes_its_text():
    d = Driver("call-text")
    lk = d.spinlock("ring->lock")

    def helper(k):
        k.spin_lock(lk)
        k.spin_unlock(lk)

    @d.thread("t")
    def t(k):
        k.call(helper, text="ring_lock_helper(ring)")

    m, _info = d.build()
    assert [a.call for a in m.actions] == ["ring_lock_helper(ring)", "spin_unlock(ring->lock)"]
