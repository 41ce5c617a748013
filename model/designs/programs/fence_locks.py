"""Fence locks and reservation locks: interrupt safety, callback nesting, and every path unlocking.

A fence's lock is taken inside dma_fence_signal() from IRQ handlers, so every other acquisition must
disable interrupts (spin_lock_irqsave), or lockdep reports an inconsistent lock state; a callback on
a member fence must not signal its container under the member's lock while the container's
enable_signaling adds callbacks to members under the container's lock (DL-13: dma_fence_array
defers the signal to irq_work); a trylocked resv is unlocked on the error path too.
Modeled on panthor_sched.c's queue fence context, dma_fence_array_cb_func()/
dma_fence_array_enable_signaling() (drivers/dma-buf/dma-fence-array.c) and
ttm_buffer_object_transfer() (drivers/gpu/drm/ttm/ttm_bo_util.c).

Threads: ``queue`` (process context updating the queue's fence context), ``irq`` (job completion
signalling the queue's fence and an array member), ``irq2`` (the other member's completion),
``waiter`` (adds a callback on a fence array), ``array_work`` (the irq_work that signals the array),
``transfer`` (ttm_buffer_object_transfer on a ghost object).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "fence-locks"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/dma-buf/dma-fence-array.c",
               title="interrupt-safe fence locks, no lock inversion through callbacks, unlock on error paths")
    qlock = d.spinlock("queue->fence_ctx.lock")
    job = d.fence("job_fence", lock=qlock, live=True, owners=(d.holder("queue_jobs"),))
    alock = d.spinlock("array->lock")
    mlock = d.spinlock("timeline->lock")  # the members come from one timeline: they share its lock
    members = d.holder("array_fences")
    m1 = d.fence("member1", lock=mlock, live=True, owners=(members,))
    m2 = d.fence("member2", lock=mlock, live=True, owners=(members,))

    def member_cb(other):
        def cb(k):  # dma_fence_array_cb_func(): the last member to signal completes the array
            k.goto_if(~other.signaled, "pending")
            if bug == "fence-array-lock-inversion":
                k.dma_fence_signal(array)  # takes array->lock under the member's lock
            else:
                k.queue_work("array_work")  # irq_work_queue(&array->work)
            k.label("pending")
        cb.__name__ = f"array_cb_{'member2' if other is m1 else 'member1'}"
        return cb

    def enable_signaling(k):  # dma_fence_array_enable_signaling(): called with array->lock held
        k.dma_fence_add_callback(m1, member_cb(m2), fail="m1_done")
        k.label("m1_done")
        k.dma_fence_add_callback(m2, member_cb(m1), fail="m2_done")
        k.label("m2_done")
        k.goto_if(~(m1.signaled & m2.signaled), "armed")
        k.queue_work("array_work")  # every member had signaled: the array signals at once
        k.label("armed")

    array = d.fence("array", lock=alock, live=True, owners=("waiter", d.holder("sync_file")),
                    enable_signaling=enable_signaling)
    ghost = d.resv("ghost->base._resv")

    @d.thread("queue", kernel="panthor queue: fence context update in process context")
    def queue(k):
        if bug == "panthor-fence-lock-irq":
            k.spin_lock(qlock)
            k.spin_unlock(qlock)
        else:
            k.spin_lock_irqsave(qlock)
            k.spin_unlock_irqrestore(qlock)

    @d.irq("irq", kernel="job completion interrupt")
    def irq(k):
        k.dma_fence_signal(job)
        k.dma_fence_signal(m1)

    @d.irq("irq2", kernel="completion interrupt of the second member's engine")
    def irq2(k):
        k.dma_fence_signal(m2)

    def waiter_cb(k):
        pass

    @d.thread("waiter", kernel="dma_fence_add_callback(&array->base)")
    def waiter(k):
        k.dma_fence_add_callback(array, waiter_cb, fail="signaled")
        k.label("signaled")
        k.dma_fence_put(array)

    @d.work("array_work", kernel="irq_work: dma_fence_array_irq_work()")
    def array_work(k):
        k.dma_fence_signal(array)

    @d.thread("transfer", kernel="ttm_buffer_object_transfer()")
    def transfer(k):
        k.dma_resv_trylock(ghost)  # a fresh ghost object: it always succeeds (WARN_ON(!ret))
        k.dma_resv_reserve_fences(ghost, fail="enomem")
        k.dma_resv_unlock(ghost)  # (the ghost is unlocked once the move fence is in)
        k.ret(0)
        k.label("enomem")
        if bug != "ttm-transfer-resv-leak":
            k.dma_resv_unlock(ghost)
        k.ret("-ENOMEM")

    return d


DESIGN = make()

BUGS = {
    "panthor-fence-lock-irq": Bug(
        NAME, "take the fence lock with spin_lock() in process context", "irq-inconsistent-lock", ("LOCKDEP-4", "FENCE-6"),
        "778c57d62497 'drm/panthor: Always use the IRQ-safe variant when acquiring the fence lock' (CVE-2026-72388)",
        "irq-unsafe lock"),
    "fence-array-lock-inversion": Bug(
        NAME, "the member callback signals the array under the member's lock", "no-fence-wait-deadlock",
        ("DL-13", "CONT-5"), "03e4e0a9e02c 'dma-buf/fence: Fix lock inversion within dma-fence-array'",
        "lock order through callbacks"),
    "ttm-transfer-resv-leak": Bug(
        NAME, "return -ENOMEM from dma_resv_reserve_fences() with the ghost's resv still locked",
        "lock-held-at-exit", ("LOCKDEP-2", "RESV-A1"),
        "97e000acf2e2 'drm/ttm: fix error handling in ttm_buffer_object_transfer'", "lock not released"),
}
