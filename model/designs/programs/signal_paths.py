"""What the path to a fence's signal may not do: wait for a lock its waiter holds, or sleep.

Whatever runs before a fence can signal (the worker that signals it, a callback run inside
dma_fence_signal()) must not depend on a lock that somebody waiting for that fence holds, and a
callback runs wherever the signaler runs, a timer included. Modeled on the KFD SVM eviction fence
(amdkfd_fence_enable_signaling(), svm_range_evict_svm_bo_worker() and svm_range_restore_work(),
drivers/gpu/drm/amd/amdkfd/kfd_svm.c, with TTM's eviction waiting for it) and on
i915_sw_fence_await_dma_fence() (drivers/gpu/drm/i915/i915_sw_fence.c), whose dma-fence callback
races a safety timer.

Threads: ``ttm_evict`` (evicts the SVM BO: its resv held, waits for the eviction fence),
``svm_evict_worker`` (queued by the fence's enable_signaling: migrates to RAM under mmap_lock, then
signals), ``svm_restore`` (the restore worker: mmap_lock for write, then validates and maps the
range); ``sw_await`` (arms the timer and the callback), ``dma_signal`` (another request's timer
signals the awaited fence), ``cb_timer`` (the safety timer), ``cb_work`` (the irq_work that frees
the callback).

The waits are bounded in the kernel (TTM's eviction wait times out): the cycle is a stall of the
eviction until that timeout, checked here as the wait-for cycle it is while it lasts.
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "signal-paths"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/amd/amdkfd/kfd_svm.c",
               title="a fence's signalling path waits for nothing its waiters hold, and sleeps nowhere")
    _svm_eviction(d, bug)
    _sw_fence_timer(d, bug)
    return d


def _svm_eviction(d: Driver, bug: str | None) -> None:
    """amdkfd SVM: TTM evicting the SVM BO waits for the KFD eviction fence under the BO's resv."""
    bo_resv = d.resv("svm_bo->bo->tbo.base.resv")
    mm = d.mm()

    def enable_signaling(k):  # amdkfd_fence_enable_signaling() -> svm_range_schedule_evict_svm_bo()
        k.queue_work("svm_evict_worker", text="schedule_work(&svm_bo->eviction_work)")

    evict_fence = d.fence("svm_bo->eviction_fence", live=True, owners=(d.holder("svm_bo"),),
                          enable_signaling=enable_signaling)

    @d.thread("ttm_evict", kernel="ttm_bo_evict() of the SVM BO for a concurrent VRAM allocation")
    def ttm_evict(k):
        k.dma_resv_lock(bo_resv)
        k.dma_fence_wait(evict_fence)  # ttm_bo_wait(): the KFD eviction fence
        k.dma_resv_unlock(bo_resv)

    @d.work("svm_evict_worker", kernel="svm_range_evict_svm_bo_worker()")
    def svm_evict_worker(k):
        k.mmap_read_lock(mm)
        k.might_sleep("svm_migrate_vram_to_ram(prange, mm)")
        k.mmap_read_unlock(mm)
        k.dma_fence_signal(evict_fence)  # dma_fence_signal(&svm_bo->eviction_fence->base)

    @d.thread("svm_restore", kernel="svm_range_restore_work() -> svm_range_validate_and_map()")
    def svm_restore(k):
        k.mmap_write_lock(mm)  # svm_range_list_lock_and_flush_work()
        if bug == "amdkfd-svm-validate-reserves-bo":
            k.dma_resv_lock(bo_resv)  # svm_range_reserve_bos(): the svm_bo's BO on the validate list too
        k.might_sleep("hmm_range_fault(); amdgpu_vm_update_range()")
        if bug == "amdkfd-svm-validate-reserves-bo":
            k.dma_resv_unlock(bo_resv)
        k.mmap_write_unlock(mm)


def _sw_fence_timer(d: Driver, bug: str | None) -> None:
    """i915_sw_fence_await_dma_fence() with a timeout: a safety timer races the dma-fence callback."""
    in_callback = bug == "i915-sw-fence-del-timer-in-callback"
    dma = d.fence("dma", live=True, owners=("dma_signal", "sw_await"))  # sw_await: cb->dma = dma_fence_get(dma)
    cb = d.mem("cb", live=True, owner="sw_await", kernel="struct i915_sw_dma_fence_cb")
    cb_fence = d.field("cb->fence", init=1, kernel="cb->fence != NULL")
    pending = d.field("fence->pending", init=1, kernel="i915_sw_fence.pending: the await on dma")

    def complete(k):  # i915_sw_fence_complete(fence)
        k.dec(pending, text="i915_sw_fence_complete(fence)")

    def wake(k):  # dma_i915_sw_fence_wake(): the dma fence's callback
        k.xchg(cb_fence, 0, old=0, goto="done", text="fence = xchg(&cb->fence, NULL); if (fence)")
        k.call(complete)
        k.label("done")
        if in_callback:
            k.timer_delete_sync("cb_timer")
            k.dma_fence_put(dma, "dma_fence_put(cb->dma)")
            k.kfree(cb)
        else:
            k.irq_work_queue("cb_work", pass_refs=(dma, cb))

    @d.irq_work("cb_work", kernel="irq_i915_sw_fence_work()")
    def cb_work(k):
        k.timer_delete_sync("cb_timer")
        k.dma_fence_put(dma, "dma_fence_put(cb->dma)")
        k.kfree_rcu(cb, "kfree_rcu(cb, rcu)")

    @d.timer("cb_timer", irqsafe=not in_callback, kernel="timer_i915_sw_fence_wake()")
    def cb_timer(k):
        k.xchg(cb_fence, 0, old=0, goto="out", text="fence = xchg(&cb->fence, NULL); if (!fence) return")
        k.use(dma, "pr_warn(\"asynchronous wait on fence %s:%s:%x timed out\", cb->dma->ops->...)")
        k.call(complete)
        k.label("out")

    @d.thread("sw_await", kernel="i915_sw_fence_await_dma_fence(fence, dma, timeout)")
    def sw_await(k):
        k.mod_timer("cb_timer")  # mod_timer(&cb->timer, round_jiffies_up(jiffies + timeout))
        k.dma_fence_add_callback(dma, wake, fail="signaled", pass_refs=(dma, cb))
        k.ret(1)
        k.label("signaled")  # -ENOENT: the callback is called here, in process context
        k.call(wake)

    @d.thread("dma_signal", context="softirq", kernel="another request's timer_i915_sw_fence_wake() completes "
              "a sw_fence whose request signals dma")
    def dma_signal(k):
        k.dma_fence_signal(dma)
        k.dma_fence_put(dma)


DESIGN = make()

BUGS = {
    "amdkfd-svm-validate-reserves-bo": Bug(
        NAME, "svm_range_validate_and_map() reserves the svm_bo's BO while holding mmap_lock: the eviction worker "
        "that signals the fence TTM waits for under that reservation needs mmap_lock", "no-fence-wait-deadlock",
        ("DL-1", "DL-13"), "ec6abe831a84 'drm/amdkfd: rm BO resv on validation to avoid deadlock'",
        "lock held across a fence wait"),
    "i915-sw-fence-del-timer-in-callback": Bug(
        NAME, "the dma-fence callback calls del_timer_sync() and frees cb itself (no irq_work, no TIMER_IRQSAFE); "
        "it runs inside another request's timer", "sleep-in-atomic", ("CTX-1", "FENCE-6"),
        "81c0ed21aa91 'drm/i915/fence: Avoid del_timer_sync() from inside a timer'",
        "fence order and signalling"),
}
FIXED = ("validate without the svm_bo's reservation; the callback queues an irq_work that deletes the "
         "TIMER_IRQSAFE timer and frees cb, and an xchg of cb->fence lets exactly one of timer and callback "
         "complete the sw_fence")
