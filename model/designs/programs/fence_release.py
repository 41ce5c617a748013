"""A fence's release runs wherever its last reference is dropped: inside a signal, under a caller's lock.

``dma_fence_put()`` of the last reference runs the fence's release op in the putter's context: from a
callback inside dma_fence_signal() of a signaller holding the driver's fence-manager lock, or from
a path holding the queue lock. A release that takes those locks deadlocks (recursive locking); it
defers the work instead, or the signaller holds its own reference. A release that decides whether
to unlink the fence from its timeline must look under the timeline lock, or it frees a fence the
signaller is still walking. Modeled on vmw_fence_obj_destroy() (drivers/gpu/drm/vmwgfx/
vmwgfx_fence.c), pvr_queue_fence_release() (drivers/gpu/drm/imagination/pvr_queue.c) and
timeline_fence_release() (drivers/dma-buf/sw_sync.c).

Threads: ``poll`` (a dma_buf_poll callback holding the last reference to a vmwgfx fence), ``seqno``
(vmw_fences_update: signals under fman->lock), ``queue`` (drops a job fence while holding the queue
lock), ``ctx_destroy`` (signals it and drops its own reference), ``release_work`` (the deferred
release), ``consumer`` (drops the last reference to a
timeline point), ``inc`` (sync_timeline_signal).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "fence-release"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/vmwgfx/vmwgfx_fence.c",
               title="fence release ops that take no lock their putters may hold")
    fman = d.spinlock("fman->lock")

    def vmw_release(k):
        if bug == "vmwgfx-release-under-fman":
            k.spin_lock(fman)  # list_del_init(&fence->head) under fman->lock
            k.spin_unlock(fman)

    vf = d.fence("vmw_fence", lock=fman, live=True, owners=("poll",), release=vmw_release)

    def poll_cb(k):
        k.dma_fence_put(vf)

    @d.thread("poll", kernel="dma_buf_poll(): dma_fence_add_callback(fence, dma_buf_poll_cb)")
    def poll(k):
        k.dma_fence_add_callback(vf, poll_cb, fail="signaled", pass_refs=(vf,))
        k.ret()
        k.label("signaled")
        k.dma_fence_put(vf)

    @d.irq("seqno", kernel="vmw_fences_update(): signal passed fences under fman->lock")
    def seqno(k):
        k.spin_lock(fman)
        k.dma_fence_signal_locked(vf)
        k.spin_unlock(fman)

    qlock = d.mutex("queue->lock")

    def pvr_release(k):
        if bug == "pvr-release-takes-queue-lock":
            k.mutex_lock(qlock)  # unlink the job from the queue, synchronously
            k.mutex_unlock(qlock)
        else:
            k.queue_work("release_work")

    pf = d.fence("pvr_fence", live=True, owners=("queue", "ctx_destroy"), release=pvr_release)

    @d.thread("queue", kernel="pvr_queue_update(): drop finished job fences under queue->lock")
    def queue(k):
        k.mutex_lock(qlock)
        k.dma_fence_put(pf)
        k.mutex_unlock(qlock)

    @d.thread("ctx_destroy", kernel="context teardown: the context's reference goes")
    def ctx_destroy(k):
        k.dma_fence_signal(pf)
        k.dma_fence_put(pf)

    @d.work("release_work", kernel="pvr_queue_fence_release_work()")
    def release_work(k):
        k.mutex_lock(qlock)
        k.mutex_unlock(qlock)

    tl = d.spinlock("obj->lock")
    pt = d.fence("pt", lock=tl, live=True, owners=("consumer",))
    tl_list = d.slot("obj->pt_list", pt, kind="list", installed=True, holds_ref=False)

    def pt_release(k):  # timeline_fence_release(): unlink if still on the timeline
        if bug == "sw-sync-release-unlocked":
            k.goto_if(~tl_list.set, "unlinked", "if (!list_empty(&pt->link))  (without obj->lock)")
            k.spin_lock_irqsave(tl)
            k.unpublish(tl_list, fail="raced", text="list_del(&pt->link)")
            k.label("raced")
            k.spin_unlock_irqrestore(tl)
            k.label("unlinked")
        else:
            k.spin_lock_irqsave(tl)
            k.unpublish(tl_list, fail="gone", text="if (!list_empty(&pt->link)) list_del(&pt->link)")
            k.label("gone")
            k.spin_unlock_irqrestore(tl)

    pt.release = pt_release

    @d.thread("consumer", kernel="the last dma_fence_put of a sw_sync point")
    def consumer(k):
        k.dma_fence_put(pt)

    @d.thread("inc", kernel="SW_SYNC_IOC_INC: sync_timeline_signal()")
    def inc(k):
        k.spin_lock_irq(tl)
        k.unpublish(tl_list, fail="empty", text="list_del_init(&pt->link)")
        k.dma_fence_signal_locked(pt)  # walks pt->base.cb_list
        k.label("empty")
        k.spin_unlock_irq(tl)

    return d


DESIGN = make()

BUGS = {
    "vmwgfx-release-under-fman": Bug(
        NAME, "the fence release takes fman->lock, which the signaller holds when a poll callback drops the last "
        "reference", "no-fence-wait-deadlock", ("DL-13", "FENCE-6"),
        "e58337100721 'drm/vmwgfx: Fix a deadlock in dma buf fence polling' (CVE-2024-43863)",
        "recursive lock in a fence release"),
    "pvr-release-takes-queue-lock": Bug(
        NAME, "the fence release takes queue->lock synchronously; the queue drops fences holding it",
        "no-fence-wait-deadlock", ("DL-1", "LOCKDEP-5"),
        "df1a1ed5e1bd 'drm/imagination: avoid deadlock on fence release' (CVE-2025-21911)",
        "recursive lock in a fence release"),
    "sw-sync-release-unlocked": Bug(
        NAME, "the release tests list_empty(&pt->link) without obj->lock and frees while the signaller walks it",
        "use-after-free", ("KOBJ-1", "FENCE-14"),
        "d3c6dd1fb30d 'dma-buf/sw_sync: Synchronize signal vs syncpt free'", "free racing a signal"),
}
