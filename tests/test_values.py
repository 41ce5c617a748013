"""Run-time values in driver programs: a pointer read into a local variable and passed to kernel calls.

``fence = k.dma_fence_get_rcu_safe(p)``, ``old = k.ptr_xchg(p, new)``, ``fence = k.ptr_load(p)``: the call
made on the variable acts on the object it held at the read. Modeled on drivers/gpu/drm/drm_syncobj.c
(drm_syncobj_replace_fence, drm_syncobj_fence_get, drm_syncobj_find_fence with WAIT_FOR_SUBMIT, whose early
drm_syncobj_put was a37eef63bc9e 'drm/syncobj: Fix use-after-free').
"""

from __future__ import annotations

import pytest
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.driver.objects import ERR_PTR as ERR
from dmabuf_check.model.types import ModelError

from tests.test_driver_programs import holds, run

NAME = "syncobj-fences"


def find_fence(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/drm_syncobj.c",
               title="a syncobj's fence replaced, read and waited for while its handle may go away")
    table = d.spinlock("file->syncobj_table_lock")
    lock = d.spinlock("syncobj->lock")
    cb_list = d.waitqueue("syncobj->cb_list")
    job = d.fence("job_fence", live=True, owners=("gpu", "submit"))

    def free(k):  # drm_syncobj_free(): drm_syncobj_replace_fence(syncobj, NULL)
        k.spin_lock(lock)
        old = k.ptr_xchg(fence_ptr, None, var="old_fence")
        k.spin_unlock(lock)
        k.dma_fence_put(old)

    syncobj = d.kref("syncobj", live=True, owners=("submit",), release=free, kernel="struct drm_syncobj")
    handle = d.slot("handle", syncobj, kind="idr", installed=True)
    fence_ptr = d.pointer("syncobj->fence", (job,), of=syncobj)
    d.gpu("gpu", signals=job)

    def fence_get(k):  # drm_syncobj_fence_get()
        k.rcu_read_lock()
        fence = k.dma_fence_get_rcu_safe(fence_ptr)
        k.rcu_read_unlock()
        return fence

    @d.thread("find", kernel="DRM_IOCTL_SYNCOBJ_WAIT, WAIT_FOR_SUBMIT: drm_syncobj_find_fence()")
    def find(k):
        k.spin_lock(table)
        k.lookup(handle, fail="enoent", text="syncobj = idr_find(&file_private->syncobj_idr, handle); "
                 "drm_syncobj_get(syncobj)")
        k.spin_unlock(table)
        fence = fence_get(k)
        if bug == "syncobj-find-fence-put-early":
            k.kref_put(syncobj, "drm_syncobj_put(syncobj)")
        k.goto_if(~fence.null, "found", text="if (*fence) ... return 0")
        # WAIT_FOR_SUBMIT: queue on the syncobj and sleep until a fence is installed
        k.use(syncobj, "drm_syncobj_fence_add_wait(syncobj, &wait): spin_lock(&syncobj->lock); "
              "list_add_tail(&wait.node, &syncobj->cb_list)")
        k.wait_event(cb_list, ~fence_ptr.points_to(None), text="wait until syncobj_fence_func() sets wait.fence")
        k.rcu_read_lock()
        waited = k.dma_fence_get_rcu_safe(fence_ptr, var="wait_fence")
        k.rcu_read_unlock()
        k.use(syncobj, "drm_syncobj_remove_wait(syncobj, &wait): spin_lock(&syncobj->lock); list_del_init()")
        k.dma_fence_wait(waited)
        k.dma_fence_put(waited)
        k.goto("out")
        k.label("found")
        k.dma_fence_wait(fence)
        k.dma_fence_put(fence)
        k.label("out")
        if bug != "syncobj-find-fence-put-early":
            k.kref_put(syncobj, "out: drm_syncobj_put(syncobj)")
        k.ret(0)
        k.label("enoent")
        k.spin_unlock(table)

    @d.thread("submit", kernel="execbuf out-syncobj: drm_syncobj_replace_fence(syncobj, job_fence)")
    def submit(k):
        k.spin_lock(lock)
        old = k.ptr_xchg(fence_ptr, job, var="old_fence")
        k.wake_up(cb_list, "list_for_each_entry_safe(cur, tmp, &syncobj->cb_list, node) syncobj_fence_func()")
        k.spin_unlock(lock)
        k.dma_fence_put(old)
        k.kref_put(syncobj, "drm_syncobj_put(syncobj)")

    @d.userspace("destroy", kernel="DRM_IOCTL_SYNCOBJ_DESTROY: drm_syncobj_destroy()")
    def destroy(k):
        k.spin_lock(table)
        k.unpublish(handle, text="syncobj = idr_remove(&file_private->syncobj_idr, handle)")
        k.spin_unlock(table)
        k.kref_put(syncobj, "drm_syncobj_put(syncobj)")

    return d



def test_find_fence_waiting_for_submit_holds_with_no_vacuous_action():
    # the variables' branches for fences they never hold are no dead code (the calls themselves all run)
    assert holds(find_fence()) == 3300


def test_dropping_the_syncobj_before_the_wait_for_submit_is_a_use_after_free():
    violated, _vacuous, _states, _m = run(find_fence("syncobj-find-fence-put-early"))
    # destroy and submit drop the last references while find sleeps on syncobj->cb_list
    assert violated["use-after-free"] == 24, violated


def replace(puts_old: bool = True, safe_get: bool = True, null_check: bool = True) -> Driver:
    """drm_syncobj_replace_fence() racing with drm_syncobj_fence_get() and a wait on what it returned."""
    d = Driver("syncobj-replace")
    a = d.fence("fenceA", live=True, owners=("gpuA",))
    b = d.fence("fenceB", live=True, owners=("gpuB", "submit"))
    p = d.pointer("syncobj->fence", (a, b), init=a)
    lk = d.spinlock("syncobj->lock")
    d.gpu("gpuA", signals=a)
    d.gpu("gpuB", signals=b)

    @d.thread("submit")
    def submit(k):
        k.spin_lock(lk)
        old = k.ptr_xchg(p, b)
        k.spin_unlock(lk)
        if puts_old:
            k.dma_fence_put(old)

    @d.thread("waiter")
    def waiter(k):
        k.rcu_read_lock()
        if safe_get:
            f = k.dma_fence_get_rcu_safe(p)
        else:
            f = k.ptr_load(p, var="fence")
            k.dma_fence_get(f)
        k.rcu_read_unlock()
        if null_check:
            k.goto_if(f.null, "out")
        k.dma_fence_wait(f)
        k.dma_fence_put(f)
        k.label("out")

    return d


def test_replace_and_rcu_safe_get_hold():
    assert holds(replace()) == 1229


def test_the_old_fence_not_put_after_the_swap_leaks():
    violated, *_ = run(replace(puts_old=False))
    assert violated == {"kref-leak": 3}


def test_a_plain_read_and_get_races_with_the_put_of_the_old_fence():
    violated, *_ = run(replace(safe_get=False))
    # the get lands on fenceA after the swap dropped its last reference (in the RCU section: count 0, the
    # memory still there), and its use after the section is a use-after-free
    assert violated == {"kref-get-zero": 11, "use-after-free": 15}


def null_fence(checks: str) -> Driver:
    """A waiter reads a pointer that is NULL until a producer stores a fence, or an ERR_PTR on failure."""
    d = Driver("value-null")
    f = d.fence("job", live=True, owners=("gpu", "producer"))
    p = d.pointer("ctx->fence", (f,))
    d.gpu("gpu", signals=f)

    @d.thread("producer")
    def producer(k):
        k.may_goto("err", "job = create_job(); if (IS_ERR(job))")
        k.ptr_store(p, f)
        k.ret(0)
        k.label("err")
        k.ptr_store(p, ERR)
        k.dma_fence_put(f)

    @d.thread("waiter")
    def waiter(k):
        k.rcu_read_lock()
        fence = k.dma_fence_get_rcu_safe(p)
        k.rcu_read_unlock()
        if checks in ("null", "both"):
            k.goto_if(fence.null, "out")
        if checks == "both":
            k.goto_if(fence.is_err, "out")
        k.dma_fence_wait(fence)
        k.dma_fence_put(fence)
        k.label("out")

    return d


def test_a_call_on_a_value_that_may_be_null_is_a_null_deref():
    violated, *_ = run(null_fence("none"))
    assert violated == {"null-deref": 3}  # the waiter reads before the producer stores


def test_checking_for_null_but_not_is_err_lets_the_error_pointer_through():
    violated, *_ = run(null_fence("null"))
    assert violated == {"null-deref": 6}  # 'fence is an ERR_PTR': the code checks for NULL, not IS_ERR


def test_checking_both_holds():
    assert holds(null_fence("both")) > 0


def test_conditions_read_the_object_the_variable_holds():
    """``fence.signaled`` of a variable is the state of the fence it holds (here one that signaled before
    the threads start), not of another target of the pointer."""
    def build(right: bool) -> Driver:
        d = Driver("value-cond")
        a = d.fence("a", live=True, owners=("gpuA",), signaled=True)
        b = d.fence("b", live=True, owners=("gpuB",))
        p = d.pointer("p", (a, b), init=a)
        d.gpu("gpuB", signals=b)

        @d.thread("gpuA")
        def gpua(k):
            k.dma_fence_put(a)

        @d.thread("reader")
        def reader(k):
            k.rcu_read_lock()
            fence = k.ptr_load(p)
            k.goto_if(fence.signaled if right else b.signaled, "done")
            k.warn_on(fence.alive | fence.freed, "the fence read has not signaled")
            k.label("done")
            k.rcu_read_unlock()

        return d

    violated, vacuous, _states, _m = run(build(True))
    assert violated == {} and vacuous == ["reader_3"]  # the warning never runs
    assert run(build(False))[0] == {"driver-assert": 3}


def test_a_value_is_its_threads_own():
    d = Driver("value-thread")
    f = d.fence("f", live=True, owners=("t",))
    p = d.pointer("p", (f,), init=f)
    leaked = {}

    @d.thread("t")
    def t(k):
        leaked["v"] = k.ptr_load(p)
        k.dma_fence_put(f)

    @d.thread("u")
    def u(k):
        k.dma_fence_wait(leaked["v"])

    with pytest.raises(ModelError, match="is a local variable of t"):
        d.build()


def test_an_unused_return_value_costs_no_state():
    d1, d2 = replace(puts_old=True), replace(puts_old=False)
    names1 = {v.name for v in d1.build()[0].variables}
    names2 = {v.name for v in d2.build()[0].variables}
    assert "val_submit_old_1" in names1 and not any(n.startswith("val_submit") for n in names2)
