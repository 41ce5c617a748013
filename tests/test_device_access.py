"""DMA into freed memory: a device job accesses memory until its fence signals (dma-after-free, MIG-6)."""

from __future__ import annotations

import pytest
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.kernel_objects import BY_ID

from tests.test_driver_programs import holds, run


def ttm_release(wait: str | None, usage: str = "WRITE") -> Driver:
    """A BO whose last put frees it (ttm_bo_release without the delayed delete): its release waits for the
    resv's fences of class ``wait`` (None: not at all) while a GPU job added with ``usage`` still runs."""
    d = Driver("ttm-release")

    def ttm_bo_release(k):
        if wait is not None:
            k.dma_resv_wait_timeout(r, wait, text="ttm_bo_release(): dma_resv_wait_timeout(resv, usage)")

    bo = d.kref("bo", live=True, owners=("ioctl",), release=ttm_bo_release)
    r = d.resv("bo->base._resv", of=bo)
    job = d.fence("job", lock=d.spinlock("fence_lock"), live=True, owners=("gpu", "ioctl"))
    d.gpu("gpu", signals=job, accesses=(bo,))

    @d.thread("ioctl")
    def ioctl(k):
        k.dma_resv_lock(r)
        k.dma_resv_reserve_fences(r)
        k.dma_resv_add_fence(r, job, usage)
        k.dma_resv_unlock(r)
        k.dma_fence_put(job)
        k.kref_put(bo)

    return d


def test_freeing_a_bo_its_job_still_accesses_is_dma_after_free():
    violated, _vac, _states, _m = run(ttm_release(None))
    # kref_put -> release -> dma_resv_fini puts the job fence -> free, and the job's device starts on it
    assert violated == {"dma-after-free": 9}


def test_waiting_for_the_fences_before_the_free_holds():
    assert holds(ttm_release("BOOKKEEP")) > 0
    assert holds(ttm_release("WRITE", usage="WRITE")) > 0


def test_a_wait_for_a_weaker_usage_class_misses_a_bookkeep_job():
    # ttm_bo_release must wait for every fence (DMA_RESV_USAGE_BOOKKEEP): a WRITE wait skips a BOOKKEEP job
    violated, *_ = run(ttm_release("WRITE", usage="BOOKKEEP"))
    assert violated == {"dma-after-free": 10}  # the same run with the release's (too weak) wait in it


def free_during_dma(bug: bool) -> Driver:
    """The device is already running when the memory goes: the check is on the state, not only on the start."""
    d = Driver("free-during-dma")
    pages = d.mem("pages")
    done = d.fence("done", lock=d.spinlock("lock"), live=True, owners=("drv", "done_irq"))

    @d.irq("done_irq")
    def done_irq(k):
        k.dma_fence_signal(done)
        k.dma_fence_put(done)

    @d.thread("drv")
    def drv(k):
        k.kzalloc(pages)
        k.device_access(pages, until=done, text="writel(DMA_START, regs)")
        if not bug:
            k.dma_fence_wait(done)
        k.kfree(pages)
        k.dma_fence_put(done)

    return d


def test_memory_freed_while_the_device_runs_is_found_at_the_free():
    violated, *_ = run(free_during_dma(True))
    assert violated == {"dma-after-free": 3}  # kzalloc, start DMA, kfree with the fence still unsignaled
    assert holds(free_during_dma(False)) > 0


def test_the_trace_blames_the_line_that_declared_the_gpu_job(tmp_path, capsys):
    from tests.test_cli import run_cli

    src = tmp_path / "bo_free.py"
    src.write_text("from dmabuf_check.model.driver import Driver\n"
                   "d = Driver('bo-free')\n"
                   "bo = d.mem('bo')\n"
                   "job = d.fence('job', live=True, owners=('gpu', 'ioctl'))\n"
                   "d.gpu('gpu', signals=job, accesses=(bo,))\n"
                   "@d.thread('ioctl')\n"
                   "def ioctl(k):\n"
                   "    k.kzalloc(bo)\n"
                   "    k.kfree(bo)\n"
                   "    k.dma_fence_put(job)\n"
                   "DESIGN = d\n")
    code, out, _err = run_cli(capsys, "check", str(src), "--property", "dma-after-free")
    assert code == 1
    assert "dma-after-free violated after 2 steps (MIG-6, DYN-9)" in out
    # the job's calls are the library's: the trace names the user's d.gpu line (5), not a library file
    assert "gpu at 'run_job(): the device accesses bo' (bo_free.py:5): the device starts DMA into bo" in " ".join(
        out.split())


def test_the_rule_is_in_the_catalog_with_its_kernel_rules():
    rule = BY_ID["dma-after-free"]
    assert rule.rules == ("MIG-6", "DYN-9")


def test_accesses_must_be_objects_of_the_driver():
    d = Driver("x")
    f = d.fence("f", live=True, owners=("g",))
    with pytest.raises(ModelError, match=r"gpu g: accesses: 'bo' is not an object of this driver"):
        d.gpu("g", signals=f, accesses=("bo",))  # type: ignore[arg-type]


def scanout(waits: bool) -> Driver:
    """A plane update scans out a framebuffer whose rendering fence it must wait for first (fd77b2c1b6eb: a
    truncated dma_fence_wait_timeout() return let it go on unwaited)."""
    d = Driver("scanout")
    fb = d.kref("fb", live=True, owners=("commit",))
    render = d.fence("render", live=True, owners=("gpu", "commit"))
    d.gpu("gpu", signals=render, accesses=(fb,))

    @d.thread("commit")
    def commit(k):
        if waits:
            k.dma_fence_wait(render)
        else:
            k.dma_fence_wait(render, timeout="go", text="ret = dma_fence_wait_timeout(render, false, 50)")
        k.label("go")
        k.device_access(fb, after=(render,), text="plane update: the display engine reads fb")
        k.dma_fence_put(render)
        k.kref_put(fb)

    return d


def test_scanning_out_before_the_render_fence_signaled_is_found():
    violated, *_ = run(scanout(waits=False))
    # the wait times out at once and the scanout goes on; then the fb's last put frees it under the running job
    assert violated == {"dma-before-fence": 1, "dma-after-free": 4}


def test_scanning_out_after_the_wait_holds_with_no_vacuous_action():
    assert holds(scanout(waits=True)) == 17


def test_an_access_after_a_container_fence_counts_its_members():
    d = Driver("after-array")
    a = d.fence("a", live=True, owners=("ring_a",))
    b = d.fence("b", live=True, owners=("ring_b",))
    arr = d.fence_array("arr", (a, b), owners=("user",))
    buf = d.kref("buf", live=True, owners=("user",))
    d.gpu("ring_a", signals=a)
    d.gpu("ring_b", signals=b)

    @d.thread("user")
    def user(k):
        k.dma_fence_is_signaled(arr, signaled="ready")
        k.dma_fence_wait(arr)
        k.label("ready")
        k.device_access(buf, after=(arr,))
        k.dma_fence_put(arr)
        k.kref_put(buf)

    assert holds(d) > 0
