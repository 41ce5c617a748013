"""349ab9192cc3 "drm/i915/guc: Make wq_lock irq-safe" (v4.11).

67b807a89230 ("drm/i915: Delay disabling the user interrupt for breadcrumbs") made the user
interrupt handler call dma_fence_signal() on completed requests.  The callbacks hanging off a request's
fence are the i915_sw_fence waits of the requests queued behind it (dma_i915_sw_fence_wake ->
i915_sw_fence_complete -> submit_notify -> engine->submit_request == i915_guc_submit()), so
i915_guc_submit() now runs in hard-IRQ context and takes client->wq_lock there, while
i915_guc_wq_reserve() (request allocation, process context) still took it with a plain spin_lock():
lockdep "inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage", and a real deadlock when the interrupt
lands on the CPU holding wq_lock.  The fix takes it with spin_lock_irq() in wq_reserve/wq_unreserve.
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "guc-wq-lock"


def _program(bug: bool, name: str) -> Driver:
    d = Driver(name, follows="drivers/gpu/drm/i915/i915_guc_submission.c")
    wq_lock = d.spinlock("client->wq_lock")
    timeline = d.spinlock("engine->timeline->lock")
    ring = d.holder("engine->timeline")                    # the engine keeps its requests until retired
    prev = d.fence("prev_rq->fence", lock=timeline, live=True, owners=(ring,))

    def submit_notify(k):   # dma_i915_sw_fence_wake() -> ... -> i915_guc_submit(rq), under prev's fence lock
        k.spin_lock(wq_lock, text="i915_guc_submit(): spin_lock(&client->wq_lock)")
        k.use(prev, "guc_wq_item_append(client, rq)")
        k.spin_unlock(wq_lock, text="spin_unlock(&client->wq_lock)")

    @d.thread("execbuf", kernel="i915_gem_request_alloc() -> i915_guc_wq_reserve(); i915_sw_fence_await_dma_fence()")
    def execbuf(k):
        if bug:
            k.spin_lock(wq_lock, text="i915_guc_wq_reserve(): spin_lock(&client->wq_lock)")
            k.spin_unlock(wq_lock, text="spin_unlock(&client->wq_lock)")
        else:
            k.spin_lock_irq(wq_lock, text="i915_guc_wq_reserve(): spin_lock_irq(&client->wq_lock)")
            k.spin_unlock_irq(wq_lock, text="spin_unlock_irq(&client->wq_lock)")
        # the new request waits for prev: i915_sw_fence_await_dma_fence(&rq->submit, &prev->fence, ...)
        k.dma_fence_add_callback(prev, submit_notify, fail="already_done",
                                 name="dma_i915_sw_fence_wake")
        k.ret(0)
        k.label("already_done")
        # prev already signaled: the sw_fence completes at once, in process context (i915_sw_fence_commit)
        if bug:
            k.spin_lock(wq_lock, text="i915_guc_submit(): spin_lock(&client->wq_lock)")
            k.spin_unlock(wq_lock)
        else:
            k.spin_lock_irq(wq_lock, text="i915_guc_submit(): spin_lock_irq(&client->wq_lock)")
            k.spin_unlock_irq(wq_lock)

    @d.irq("user_irq", kernel="gen8_cs_irq_handler -> notify_ring -> dma_fence_signal(&rq->fence)")
    def user_irq(k):
        k.dma_fence_signal(prev)

    return d


def make(bug: str | None = None) -> Driver:
    return _program(bug is not None, NAME if bug is None else f"bug-{bug}")


DESIGN = make()

BUGS = {
    "guc-wq-lock-irq-unsafe": Bug(
        NAME, 'client->wq_lock taken with spin_lock() in process context and from the fence callback in hard IRQ',
        'irq-inconsistent-lock', ('LOCKDEP-4', 'FENCE-6'),
        "349ab9192cc3 'drm/i915/guc: Make wq_lock irq-safe'", 'irq-unsafe lock in a fence callback'),
}
