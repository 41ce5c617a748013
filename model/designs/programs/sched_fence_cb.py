"""Fence callbacks of a GPU scheduler and a software timeline: what runs inside dma_fence_signal().

A dma_fence callback runs in the signaller's context with the fence lock held and interrupts off
(FENCE-6): it may not sleep, take the fence lock again (fences of one timeline share it), or add a
callback to a fence sharing that lock; a reference handed to the callback is dropped by it, and an
-ENOENT from dma_fence_add_callback (already signaled) leaves that reference with the caller.

Modeled on drm_sched_entity_kill() / drm_sched_entity_kill_jobs_cb()
(drivers/gpu/drm/scheduler/sched_entity.c) and sync_timeline_signal() / timeline_fence_release()
(drivers/dma-buf/sw_sync.c).

Threads: ``kill`` (entity kill: chains the killed job on the last scheduled fence), ``sched`` (the
scheduler completing that fence from the IRQ), ``kill_work`` (the work item the callback defers to),
``consumer`` (a waiter handing its timeline-point reference to a callback), ``inc``
(SW_SYNC_IOC_INC: signals the timeline's points under the timeline lock).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "sched-fence-cb"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/scheduler/sched_entity.c",
               title="fence callbacks: references handed over, work deferred out of the signal path")
    ring = d.spinlock("sched->fence_lock")
    prev = d.fence("last_scheduled", lock=ring, live=True, owners=("sched", "kill"))
    dep = d.fence("next_dep", lock=ring, live=True, owners=("sched", "kill_work"))  # the job's dependency reference
    job = d.holder("job")  # the killed job keeps its finished fence until it is freed
    finished = d.fence("finished", live=True, owners=(job,))
    tl = d.spinlock("obj->lock")

    def pt_release(k):
        k.spin_lock_irqsave(tl)  # timeline_fence_release(): unlink the point from the timeline
        k.spin_unlock_irqrestore(tl)

    pt = d.fence("pt", lock=tl, live=True, owners=("consumer",), release=pt_release)

    def kill_jobs_cb(k):
        k.dma_fence_put(prev)  # the reference the kill path handed over
        if bug == "sched-kill-cb-deadlock":
            k.dma_fence_add_callback(dep, kill_dep_cb, fail="dep_signaled")  # takes sched->fence_lock again
            k.ret()
            k.label("dep_signaled")
            k.dma_fence_signal(finished)
        else:
            k.queue_work("kill_work")

    def kill_dep_cb(k):
        if bug != "sched-kill-cb-deadlock":
            k.dma_fence_put(dep)
        k.dma_fence_signal(finished)

    @d.thread("kill", kernel="drm_sched_entity_kill()")
    def kill(k):
        k.dma_fence_add_callback(prev, kill_jobs_cb, fail="signaled", pass_refs=(prev,))
        k.ret()
        k.label("signaled")  # -ENOENT: run the callback's work here
        if bug != "sched-kill-enoent-leak":
            k.dma_fence_put(prev)
        k.dma_fence_signal(finished)

    @d.work("kill_work", kernel="drm_sched_entity_kill_jobs_work()")
    def kill_work(k):
        k.dma_fence_add_callback(dep, kill_dep_cb, fail="dep_signaled", pass_refs=(dep,))
        k.ret()
        k.label("dep_signaled")
        k.dma_fence_put(dep)
        k.dma_fence_signal(finished)

    @d.irq("sched", kernel="scheduler fence completion (IRQ)")
    def sched(k):
        k.dma_fence_signal(prev)
        k.dma_fence_put(prev)
        k.dma_fence_signal(dep)
        k.dma_fence_put(dep)

    def consumer_cb(k):
        k.dma_fence_put(pt)  # the consumer's reference, handed over

    @d.thread("consumer", kernel="a waiter on a sw_sync point")
    def consumer(k):
        k.dma_fence_add_callback(pt, consumer_cb, fail="signaled", pass_refs=(pt,))
        k.ret()
        k.label("signaled")
        k.dma_fence_put(pt)

    @d.thread("inc", kernel="SW_SYNC_IOC_INC: sync_timeline_signal()")
    def inc(k):
        k.spin_lock_irq(tl)
        if bug == "sw-sync-recursive-signal":
            k.dma_fence_signal_locked(pt)  # a callback may drop the last reference: release takes obj->lock
            k.spin_unlock_irq(tl)
        else:
            k.dma_fence_get(pt)  # and list_move_tail to a local list
            k.dma_fence_signal_locked(pt)
            k.spin_unlock_irq(tl)
            k.dma_fence_put(pt)  # outside obj->lock

    return d


DESIGN = make()

BUGS = {
    "sched-kill-enoent-leak": Bug(
        NAME, "no dma_fence_put(prev) when dma_fence_add_callback() returns -ENOENT", "kref-leak", ("KREF-4", "FENCE-6"),
        "a952f1ab6968 'drm/sched: Fix fence reference count leak' (CVE-2025-21995)", "leak on error path"),
    "sched-kill-cb-deadlock": Bug(
        NAME, "the kill callback re-arms on the next dependency itself, under the shared fence lock",
        "no-fence-wait-deadlock", ("FENCE-6", "DL-13"),
        "487df8b69834 'drm/sched: Fix deadlock in drm_sched_entity_kill_jobs_cb' (CVE-2025-40329)",
        "recursive lock in a fence callback"),
    "sw-sync-recursive-signal": Bug(
        NAME, "signal the point under obj->lock without holding a reference of its own", "no-fence-wait-deadlock",
        ("FENCE-6", "DL-13"), "e531fdb5cd5e 'dma-buf/sw_sync: Avoid recursive lock during fence signal'",
        "recursive lock in a fence callback"),
}
