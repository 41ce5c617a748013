"""A release that runs in hard IRQ: a vgem fence's timeout timer is stopped with timer_delete_sync().

The last dma_fence_put() may come from a fence-chain callback in hard IRQ, so the fence's release
runs there; timer_delete_sync() waits for a running timer callback, which is legal in IRQ context
only for a TIMER_IRQSAFE timer (the callback then runs with interrupts off). Modeled on
vgem_fence_release() and vgem_fence_timeout() (drivers/gpu/drm/vgem/vgem_fence.c).

Threads: ``attach`` (vgem_fence_attach_ioctl arms the timer), ``vgem_timer`` (the timeout: signals
the fence), ``chain_cb`` (a dma_fence_chain callback dropping the last reference in hard IRQ).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "vgem-fence"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/vgem/vgem_fence.c",
               title="a fence release that may run in hard IRQ stops its timer IRQ-safely")

    def vgem_release(k):  # vgem_fence_release(): stop the timeout timer
        k.timer_delete_sync("vgem_timer", irqsafe=bug != "vgem-release-timer-sync-irq")

    vg = d.fence("vgem_fence", live=True, owners=("attach", "chain_cb"), release=vgem_release)

    @d.thread("attach", kernel="vgem_fence_attach_ioctl(): mod_timer(&fence->timer)")
    def attach(k):
        k.queue_work("vgem_timer")
        k.dma_fence_put(vg)  # the attach ioctl's reference (the last one may be the chain callback's, in IRQ)

    @d.work("vgem_timer", kernel="vgem_fence_timeout(): signal on timeout")
    def vgem_timer(k):
        k.dma_fence_signal(vg)  # no reference of its own: the release's timer_delete_sync() keeps it valid

    @d.irq("chain_cb", kernel="a dma_fence_chain callback drops its reference in hard IRQ")
    def chain_cb(k):
        k.dma_fence_put(vg)

    return d


DESIGN = make()

BUGS = {
    "vgem-release-timer-sync-irq": Bug(
        NAME, "the fence release, run from hard IRQ by the last put, calls timer_delete_sync() on a timer that is "
        "not TIMER_IRQSAFE", "sleep-in-atomic", ("CTX-1",),
        "78b4d6463e9e 'drm/vgem-fence: Fix potential deadlock on release' (CVE-2025-68757)", "sleep in atomic context"),
}
