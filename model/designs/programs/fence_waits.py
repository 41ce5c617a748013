"""Waits on fences before device work: a display commit waiting for each plane's render fence, and a
submission waiting for the context's previous job on that ring.

A plane update may scan out a framebuffer only after its render fence signaled; the wait's long return
value is the remaining time, so an ``int`` that truncates it turns a stub fence's MAX_SCHEDULE_TIMEOUT into
-1, read as an error, and the loop over the planes stops before the next plane's wait. A wait on a fence
read from a slot another submission replaces (and puts) needs its own reference, taken under the lock
that guards the slot. Modeled on intel_atomic_commit_fence_wait() (drivers/gpu/drm/i915/display/
intel_display.c) and amdgpu_ctx_wait_prev_fence() / amdgpu_ctx_add_fence() (drivers/gpu/drm/amd/amdgpu/
amdgpu_ctx.c).

Threads: ``render`` (the GPU job rendering plane 1, which writes its framebuffer), ``commit`` (the
atomic commit: wait for plane 0's stub fence and plane 1's render fence, then scan out), ``ring`` (the
previous job on the context's ring), ``submit`` (the next submission: replaces centity->fences[idx]),
``cs_ioctl`` (amdgpu_cs_ioctl waiting for the previous fence of the slot).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "fence-waits"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/i915/display/intel_display.c",
               title="device work starts after the fences it waits for, each held by a reference")
    _display(d, bug)
    _ctx(d, bug)
    return d


def _display(d: Driver, bug: str | None) -> None:
    plane0 = d.stub_fence()  # a plane with no implicit fence: dma_fence_get_stub(), already signaled
    fb1 = d.kref("plane1_fb", live=True, owners=("commit",), kernel="struct drm_framebuffer")
    render1 = d.fence("plane1_fence", live=True, owners=("render", "commit"))
    d.gpu("render", signals=render1, accesses=(fb1,))

    @d.thread("commit", kernel="intel_atomic_commit_tail() -> intel_atomic_commit_fence_wait()")
    def commit(k):
        k.dma_fence_wait(plane0, text="ret = dma_fence_wait_timeout(plane0 fence, false, MAX_SCHEDULE_TIMEOUT)")
        if bug == "i915-fence-wait-int-ret":
            k.goto("planes", text="int ret = MAX_SCHEDULE_TIMEOUT -> -1: if (ret <= 0) break")
        k.dma_fence_wait(render1, text="ret = dma_fence_wait_timeout(plane1 fence, false, MAX_SCHEDULE_TIMEOUT)")
        k.label("planes")
        k.device_access(fb1, after=(render1,), text="intel_update_planes_on_crtc(): plane 1 scans out its fb")
        k.dma_fence_put(render1)
        k.kref_put(fb1, "drm_framebuffer_put(fb)")


def _ctx(d: Driver, bug: str | None) -> None:
    ring_lock = d.spinlock("ctx->ring_lock")
    prev = d.fence("prev_job", live=True, owners=("ring",))
    nxt = d.fence("next_job", live=True, owners=("submit",))
    slot = d.pointer("centity->fences[idx]", (prev, nxt), init=prev)
    d.gpu("ring", signals=prev)

    @d.thread("submit", kernel="amdgpu_cs_submit() -> amdgpu_ctx_add_fence()")
    def submit(k):
        k.dma_fence_wait(prev, text="the slot's old fence signaled (amdgpu_ctx_add_fence: only then replaced)")
        k.spin_lock(ring_lock)
        k.ptr_xchg(slot, nxt, "other = centity->fences[idx]; centity->fences[idx] = fence")
        k.spin_unlock(ring_lock)
        k.dma_fence_put(prev, "dma_fence_put(other)")
        k.dma_fence_signal(nxt)

    def wait_on(k, f, fail):
        if bug == "amdgpu-ctx-wait-no-ref":
            k.dma_fence_wait(f, intr=True, fail=fail, text="r = dma_fence_wait(other, true)")
            return
        k.dma_fence_get(f, "other = dma_fence_get(centity->fences[idx])")
        k.spin_unlock(ring_lock)
        k.dma_fence_wait(f, intr=True, fail=f"put_{f.name}", text="r = dma_fence_wait(other, true)")
        k.label(f"put_{f.name}")
        k.dma_fence_put(f, "dma_fence_put(other)")

    @d.thread("cs_ioctl", kernel="amdgpu_cs_ioctl() -> amdgpu_ctx_wait_prev_fence()")
    def cs_ioctl(k):
        if bug != "amdgpu-ctx-wait-no-ref":
            k.spin_lock(ring_lock)
        k.ptr_switch(slot, {prev: "w_prev", nxt: "w_next"}, text="other = centity->fences[idx]")
        k.label("w_prev")
        wait_on(k, prev, "out")
        k.goto("out")
        k.label("w_next")
        wait_on(k, nxt, "out")
        k.label("out")


DESIGN = make()

BUGS = {
    "i915-fence-wait-int-ret": Bug(
        NAME, "keep dma_fence_wait_timeout()'s long return in an int: a stub fence's MAX_SCHEDULE_TIMEOUT becomes -1 "
        "and the plane loop stops before the next plane's wait", "dma-before-fence", ("SYNC-3", "MAP-7"),
        "fd77b2c1b6eb 'drm/i915/display: Fix dma_fence_wait_timeout() return value handling'",
        "return value of a wait"),
    "amdgpu-ctx-wait-no-ref": Bug(
        NAME, "wait on centity->fences[idx] without a reference and without ctx->ring_lock", "use-after-free",
        ("KOBJ-1", "KREF-3"), "42068e1ef961 'drm/amdgpu: fix dma_fence_wait without reference'",
        "fence reference"),
}
