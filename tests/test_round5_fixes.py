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
