"""Fence state that goes away when the fence signals, and arrays of fence references on error paths.

Since "dma-buf: detach fence ops on signal v3" a signaled fence's ``ops`` pointer is cleared, so a
reader that checked "not signaled" and then calls through ``fence->ops`` can meet NULL: the pointer
itself, read once (rcu_dereference) and tested, is the only safe check. dma_resv_get_fences() holds a
reference on every fence it collected; when growing the array fails it drops them. Modeled on
dma_fence_timeline_name()/dma_fence_driver_name() and the dma_fence tracepoints
(drivers/dma-buf/dma-fence.c) and dma_resv_get_fences() (drivers/dma-buf/dma-resv.c).

Threads: ``signal`` (dma_fence_signal: sets the signaled bit, clears ops), ``name_reader`` (sync_file
info / debugfs reading the timeline name), ``gpu`` (completes the resv's fence), ``trace`` (a
tracepoint printing the driver name after the fence signaled), ``get_fences`` (collects the resv's
fences into an array that may need to grow).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "fence-ops"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/dma-buf/dma-fence.c",
               title="fence ops read through one tested pointer; collected fence references dropped on error")
    f = d.fence("fence", live=True, owners=(d.holder("sync_file"),))
    ops = d.mem("fence->ops", live=True, owner=d.holder("driver_module"), kernel="struct dma_fence_ops")
    ops_ptr = d.slot("fence->ops_ptr", ops, kind="ptr", installed=True, holds_ref=False)

    @d.irq("signal", kernel="dma_fence_signal(): set SIGNALED, then RCU_INIT_POINTER(fence->ops, NULL)")
    def signal(k):
        k.dma_fence_signal(f)
        k.unpublish(ops_ptr, text="RCU_INIT_POINTER(fence->ops, NULL)")

    @d.thread("name_reader", kernel="dma_fence_timeline_name()")
    def name_reader(k):
        k.rcu_read_lock()
        if bug == "fence-timeline-name-null-ops":
            k.goto_if(f.signaled, "signaled", "if (!dma_fence_test_signaled_flag(fence))")
            k.use_slot(ops_ptr, "fence->ops->get_timeline_name(fence)")
        else:
            k.peek(ops_ptr, fail="signaled", text="ops = rcu_dereference(fence->ops); if (!ops)")
            k.use(ops, "ops->get_timeline_name(fence)")
        k.label("signaled")
        k.rcu_read_unlock()

    @d.thread("trace", kernel="trace_dma_fence_signaled() / trace_dma_fence_destroy()")
    def trace(k):
        k.rcu_read_lock()
        if bug == "fence-tracepoint-null-ops":
            k.use_slot(ops_ptr, "__get_str(driver): fence->ops->get_driver_name(fence)")
        else:
            k.peek(ops_ptr, fail="none", text="dma_fence_driver_name(fence): ops = rcu_dereference(fence->ops)")
            k.use(ops, "ops->get_driver_name(fence)")
        k.label("none")
        k.rcu_read_unlock()

    shared = d.fence("shared_fence", live=True, owners=(d.holder("resv"),))

    @d.irq("gpu", kernel="the shared fence's job completes")
    def gpu(k):
        k.dma_fence_signal(shared)
    fences = d.mem("fences_array", kernel="the array dma_resv_get_fences returns")

    @d.thread("get_fences", kernel="dma_resv_get_fences()")
    def get_fences(k):
        k.kzalloc(fences, "GFP_KERNEL", fail="out", text="*fences = krealloc_array(NULL, count, ...)")
        k.dma_fence_get(shared)  # (*fences)[i] = dma_fence_get(fence)
        k.may_goto("restart", "the iterator restarts: a writer changed the resv")
        k.dma_fence_put(shared)  # the caller's use, then its puts
        k.kfree(fences)
        k.ret(0)
        k.label("restart")  # krealloc_array() to the new count fails
        if bug != "resv-get-fences-realloc-leak":
            k.dma_fence_put(shared)
        k.kfree(fences, "kfree(*fences) ... return -ENOMEM")
        k.label("out")

    return d


DESIGN = make()

BUGS = {
    "fence-timeline-name-null-ops": Bug(
        NAME, "test the signaled bit, then call through fence->ops (cleared on signal)", "null-deref",
        ("KOBJ-5", "FENCE-9"), "035219a760ed 'dma-buf: dma-fence: Fix potential NULL pointer dereference' "
        "(CVE-2026-72094)", "state cleared at signal"),
    "fence-tracepoint-null-ops": Bug(
        NAME, "a tracepoint calls fence->ops->get_driver_name() of a signaled fence", "null-deref",
        ("KOBJ-5",), "e94b9f01543c 'dma-fence: Fix potential tracepoint null pointer dereferences' "
        "(CVE-2026-74418)", "state cleared at signal"),
    "resv-get-fences-realloc-leak": Bug(
        NAME, "krealloc_array() fails on restart: return without dropping the collected fences", "kref-leak",
        ("KREF-4",), "05abb3be91d8 'dma-buf/dma-resv: Stop leaking on krealloc() failure' (CVE-2023-53181)",
        "leak on error path"),
}
