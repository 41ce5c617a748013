"""Polling a fence array: dma_fence_is_signaled() must make progress without enable_signaling.

A dma_fence_array counts its pending members through callbacks that only enable_signaling installs;
a waiter that only polls dma_fence_is_signaled() never enables signaling, so the array's signaled
op must look at the members itself when signaling is not enabled, or the poller spins forever on an
array whose members have all signaled (no progress, FENCE-LIVE-1). Modeled on
dma_fence_array_signaled() (drivers/dma-buf/dma-fence-array.c).

Threads: ``irq1``/``irq2`` (the members' completions), ``poller`` (loops on dma_fence_is_signaled).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "fence-array-poll"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/dma-buf/dma-fence-array.c",
               title="dma_fence_array_signaled() makes progress without enable_signaling")
    members = d.holder("array->fences")
    m1 = d.fence("member1", live=True, owners=(members,))
    m2 = d.fence("member2", live=True, owners=(members,))
    array = d.fence("array", live=True, owners=("poller",))

    @d.irq("irq1", kernel="first member completes")
    def irq1(k):
        k.dma_fence_signal(m1)

    @d.irq("irq2", kernel="second member completes")
    def irq2(k):
        k.dma_fence_signal(m2)

    @d.thread("poller", kernel="while (!dma_fence_is_signaled(&array->base)) cpu_relax();")
    def poller(k):
        k.label("poll")
        k.goto_if(array.signaled, "done", "dma_fence_is_signaled(array): the signaled bit")
        if bug == "fence-array-signaled-no-progress":
            k.goto("poll")  # ops->signaled: num_pending > 0 (only callbacks decrement it): never true
        else:  # ops->signaled without ENABLE_SIGNAL_BIT: every member signaled?
            k.goto_if(~(m1.signaled & m2.signaled), "poll", "dma_fence_array_signaled(): check each member")
            k.dma_fence_signal(array)  # dma_fence_is_signaled() signals a fence its op reports done
        k.label("done")
        k.dma_fence_put(array)

    return d


DESIGN = make()

BUGS = {
    "fence-array-signaled-no-progress": Bug(
        NAME, "dma_fence_array_signaled() reads only the pending count that enable_signaling's callbacks decrement",
        "fence-eventually-signals", ("FENCE-LIVE-1", "FENCE-9"),
        "78ac1c355881 'dma-buf: fix dma_fence_array_signaled v4'", "no progress (liveness)"),
}
