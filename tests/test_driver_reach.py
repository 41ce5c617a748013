"""Driver programs, found by writing real kernel bugs as a new user would: each mechanism here closes a
gap such a bug hit (a miss, a false alarm or a wrong explanation), with a buggy and a fixed program."""

from __future__ import annotations

import pytest
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.base import LIVENESS
from dmabuf_check.properties.kernel_objects import for_driver


def holds(d: Driver) -> None:
    """The fixed program: every property holds and every action fires."""
    violated, vacuous, _r, _m = run(d)
    assert violated == {} and vacuous == []


def found(d: Driver) -> dict[str, int]:
    """The properties the program breaks, each with its shortest counterexample's length."""
    return run(d)[0]


def run(d: Driver, kernel: str | None = None):
    m, info = d.build(kernel)
    props = [p for p in for_driver(m, info) if p.kind != LIVENESS]
    r = explore(m, props, symmetry=False, stop_at_first=False)
    assert r.complete
    violated = {v.property: v.counterexample.length for v in r.violated}
    dead = info.may_be_dead(r.vacuous)
    vacuous = [a for a in r.vacuous if a not in dead]
    return violated, vacuous, r, m





# ---- DL-1 through a fence: waiter -> fence -> its only signaller -> lock -> holder --------------------

def fence_under_lock(bug: bool, second_signaller: bool = False) -> Driver:
    """The textbook fence deadlock: a thread waits on a fence holding the lock its signaller needs."""
    d = Driver("fence-under-lock")
    lk = d.mutex("A")
    f = d.fence("f", live=True, owners=(d.holder("h"),))

    @d.thread("waiter")
    def waiter(k):
        k.mutex_lock(lk)
        if bug:
            k.dma_fence_wait(f)
            k.mutex_unlock(lk)
        else:
            k.mutex_unlock(lk)
            k.dma_fence_wait(f)

    @d.thread("signaller")
    def signaller(k):
        k.mutex_lock(lk)
        k.mutex_unlock(lk)
        k.dma_fence_signal(f)

    if second_signaller:
        @d.irq("timeout")
        def timeout(k):  # another context that can signal the fence as well: the wait can end without A
            k.dma_fence_signal(f)

    return d


def test_a_fence_wait_under_the_signallers_lock_is_a_wait_for_cycle():
    assert found(fence_under_lock(True)) == {"no-fence-wait-deadlock": 1, "no-stuck-state": 1}


def test_the_fixed_fence_wait_holds_with_no_vacuous_action():
    holds(fence_under_lock(False))


def test_a_fence_another_context_can_still_signal_is_no_cycle():
    # the waiter is not stuck while the IRQ can still signal: no wait-for cycle until it ran without signalling
    violated, _vacuous, _r, _m = run(fence_under_lock(True, second_signaller=True))
    assert "no-stuck-state" not in violated
    assert "no-fence-wait-deadlock" not in violated


STUCK = """\
from dmabuf_check.model.driver import Driver
d = Driver("lost-wakeup")
lk = d.mutex("userq_mutex")
done = d.completion("done")
d.fence("pt", live=True, owners=(d.holder("timeline"),))

@d.thread("waiter")
def waiter(k):
    k.wait_for_completion(done)

@d.thread("destroy")
def destroy(k):
    k.mutex_lock(lk)
    k.wait_for_completion(done)
    k.mutex_unlock(lk)

@d.thread("worker")
def worker(k):
    k.mutex_lock(lk)
    k.mutex_unlock(lk)
    k.complete_all(done)
DESIGN = d
"""


def test_a_stuck_driver_names_each_blocked_thread_and_what_it_waits_for(tmp_path, capsys):
    from tests.test_cli import run_cli

    src = tmp_path / "stuck.py"
    src.write_text(STUCK)
    code, out, _err = run_cli(capsys, "check", str(src), "--property", "no-stuck-state", "--calls")
    assert code == 1
    assert ("why: no thread can make a call and not every thread returned: "
            "waiter is stuck in wait_for_completion(&done) (cannot go on: the condition it waits for never holds); "
            "destroy is stuck in wait_for_completion(&done) (cannot go on: the condition it waits for never holds); "
            "worker is stuck in mutex_lock(userq_mutex) (waits for userq_mutex, held by destroy)") in " ".join(out.split())
    assert "dma-buf" not in out  # the program has none
    assert "mutex_lock(userq_mutex) never returns: it waits for userq_mutex, held by destroy" in " ".join(out.split())


# ---- REF-10: the importer's reference may live in its own structures -----------------------------------

def prime_import(bug: bool) -> Driver:
    """drm_gem_prime_import_dev(): the dma-buf reference moves to the GEM object (obj->import_attach), whose
    free path detaches and only then puts (drm_prime_gem_destroy); the bug puts first."""
    d = Driver("prime-import-ref")
    buf = d.dma_buf("buf", live=True, owners=("import", d.holder("exporter")))
    att = d.attachment("att", buf)
    import_attach = d.slot("obj->import_attach", buf, kind="ptr")

    @d.thread("import")
    def imp(k):
        k.dma_buf_attach(att, fail="out")
        k.publish(import_attach, "obj->import_attach = attach")  # the GEM object now owns the reference
        k.ret(0)
        k.label("out")
        k.dma_buf_put(buf)

    @d.thread("gem_close")
    def close(k):
        k.unpublish(import_attach, fail="out", text="dma_buf = obj->import_attach->dmabuf")
        if bug:
            k.dma_buf_put(buf)
            k.dma_buf_detach(att)
        else:
            k.dma_buf_detach(att)
            k.dma_buf_put(buf)
        k.label("out")

    return d


def test_a_reference_the_gem_object_holds_keeps_the_attachment_legal():
    holds(prime_import(False))  # was attach-holds-ref after 2 steps: only the thread's own count


def test_a_put_before_detach_through_the_gem_object_is_still_found():
    violated, _vacuous, _r, _m = run(prime_import(True))
    assert violated["attach-holds-ref"] == 6


# ---- an exporter op's error fails the core call that runs it --------------------------------------------

def attach_op(bug: bool, importer_handles: bool = True) -> Driver:
    """fastrpc_dma_buf_attach() before fc739a058d99: dma_get_sgtable() fails and the op returns -EINVAL
    without kfree(a); dma_buf_attach() then returns ERR_PTR and the importer never detaches."""
    d = Driver("attach-op-error")
    a = d.mem("a", kernel="struct fastrpc_dma_buf_attachment")

    def attach(k):
        k.kzalloc(a, fail="enomem")
        k.may_goto("sg_fail", "ret = dma_get_sgtable(); if (ret < 0)")
        k.ret(0)
        k.label("sg_fail")
        if not bug:
            k.kfree(a)
        k.ret("-EINVAL")
        k.label("enomem")
        k.ret("-ENOMEM")

    def detach(k):
        k.kfree(a, "sg_free_table(&a->sgt); kfree(a)")

    buf = d.dma_buf("dmabuf", live=True, owners=("importer",), ops={"attach": attach, "detach": detach})
    att = d.attachment("attachment", buf)

    @d.thread("importer")
    def importer(k):
        k.dma_buf_attach(att, fail="put" if importer_handles else None)
        k.dma_buf_map_attachment(att, fail="detach")
        k.dma_buf_unmap_attachment(att)
        k.label("detach")
        k.dma_buf_detach(att)
        k.label("put")
        k.dma_buf_put(buf)

    return d


def test_an_attach_op_that_fails_without_freeing_leaks():
    assert found(attach_op(True)) == {"kref-leak": 4}  # was: no violation, the core attached anyway and detach freed a


def test_an_attach_op_that_frees_on_its_error_path_holds():
    holds(attach_op(False))  # was: double-free, the detach op ran for a failed attach


def test_an_op_error_needs_a_fail_label_on_the_core_call():
    with pytest.raises(ModelError, match=r"the dmabuf.attach op returns -EINVAL at test_driver_reach.py:\d+, but the "
                       "core call that runs it has no fail= label"):
        attach_op(False, importer_handles=False).build()


def map_op(bug: bool) -> Driver:
    """A map op that can fail (dma_map_sgtable -ENOMEM): the mapping is not made, and the caller that goes on
    to device DMA as if it were breaks MAP-1."""
    d = Driver("map-op-error")

    def map_op_body(k):
        k.may_goto("err", "ret = dma_map_sgtable(); if (ret)")
        k.ret(0)
        k.label("err")
        k.ret("ERR_PTR(-ENOMEM)")

    buf = d.dma_buf("buf", live=True, owners=("importer",), ops={"map": map_op_body})
    att = d.attachment("att", buf)

    @d.thread("importer")
    def importer(k):
        k.dma_buf_attach(att, fail="put")
        k.dma_buf_map_attachment(att, fail="detach" if not bug else "dma")
        k.label("dma")
        k.dma_access(att)
        k.dma_buf_unmap_attachment(att)
        k.label("detach")
        k.dma_buf_detach(att)
        k.label("put")
        k.dma_buf_put(buf)

    return d


def test_dma_after_a_failed_map_op_is_found():
    assert found(map_op(True)) == {"dma-through-live-mapping": 6, "unmap-after-map": 8}  # and it unmaps what never mapped


def test_a_failed_map_op_handled_holds():
    holds(map_op(False))


# ---- pins and attachments are balanced: a pin is dropped before detach, an attachment detached once -----

def prepare_fb(bug: str | None) -> Driver:
    """virtio_gpu_prepare_fb() before 395cc80051f8: the imported buffer is pinned, then the fence allocation
    fails and the error return skips the unpin (cleanup_fb never runs for that plane)."""
    d = Driver("prepare-fb-pin")
    fence_mem = d.mem("vgfb->fence")
    buf = d.dma_buf("buf", live=True, owners=("atomic", d.holder("exporter")), dynamic=True)
    att = d.attachment("attach", buf, dynamic=True)
    resv = buf.resv

    @d.thread("atomic", kernel="drm_atomic_helper_prepare_planes()")
    def atomic(k):
        k.dma_buf_attach(att, fail="put")
        k.dma_resv_lock(resv)
        k.dma_buf_pin(att, fail="unlock")
        k.dma_resv_unlock(resv)
        k.kzalloc(fence_mem, fail="err")
        k.kfree(fence_mem)  # cleanup_fb: the plane is done with it
        k.dma_resv_lock(resv)
        k.dma_buf_unpin(att)
        k.dma_resv_unlock(resv)
        k.goto("detach")
        k.label("err")  # -ENOMEM: prepare_fb fails, so cleanup_fb never runs for this plane
        if bug != "pin-leak":
            k.dma_resv_lock(resv)
            k.dma_buf_unpin(att)
            k.dma_resv_unlock(resv)
        k.goto("detach")
        k.label("unlock")
        k.dma_resv_unlock(resv)
        k.label("detach")
        k.dma_buf_detach(att)
        if bug == "double-detach":
            k.dma_buf_detach(att)
        k.label("put")
        k.dma_buf_put(buf)

    return d


def test_a_pin_left_on_the_error_path_is_found_at_detach():
    assert found(prepare_fb("pin-leak")) == {"pin-balance": 7}  # was: every property held


def test_a_second_detach_is_found():
    assert found(prepare_fb("double-detach")) == {"detach-after-unmap": 9}


def test_the_balanced_prepare_fb_holds():
    holds(prepare_fb(None))


# ---- a dma_resv is a lock like the others: assertions and protected state ---------------------------------

def vm_bo_add(bug: bool) -> Driver:
    """amdgpu_gem_object_open() before fd1fa48b935f: amdgpu_vm_bo_add() edits lists the VM root's resv
    protects (amdgpu_vm_assert_locked) while only the BO's resv is held."""
    d = Driver("vm-bo-add")
    bo = d.resv("abo->tbo.base.resv")
    vm = d.resv("vm->root.bo->tbo.base.resv")
    bo_va = d.kref("bo_va", live=True, owners=("gem_open",))
    d.slot("vm->idle", bo_va, kind="list", lock=vm)  # a slot a resv protects

    @d.thread("gem_open")
    def gem_open(k):
        k.dma_resv_lock(bo)
        if not bug:
            k.dma_resv_lock(vm)
        k.dma_resv_assert_held(vm)
        k.lockdep_assert_held(bo)
        if not bug:
            k.dma_resv_unlock(vm)
        k.dma_resv_unlock(bo)
        k.kref_put(bo_va)

    return d


def test_a_resv_assertion_without_the_resv_is_found():
    assert found(vm_bo_add(True)) == {"lockdep-assert-held": 1}  # lockdep_assert_held(resv) was an AttributeError traceback


def test_a_resv_assertion_with_both_resvs_held_holds():
    holds(vm_bo_add(False))


def test_lockdep_assert_held_of_something_else_is_one_line():
    d = Driver("bad-assert")
    obj = d.kref("obj", live=True, owners=("t",))

    @d.thread("t")
    def t(k):
        k.lockdep_assert_held(obj)
        k.kref_put(obj)

    with pytest.raises(ModelError, match="lockdep_assert_held\\(\\) takes a lock of this driver"):
        d.build()


# ---- lockdep's boot-time priming follows the generation checked ----------------------------------------

COPY_UNDER_RESV = """\
from dmabuf_check.model.driver import Driver
d = Driver("copy-under-resv")
r = d.resv("bo->resv")

@d.thread("ioctl")
def ioctl(k):
    k.dma_resv_lock(r)
    k.copy_from_user()
    k.dma_resv_unlock(r)
DESIGN = d
"""


def test_the_primed_mmap_lock_order_exists_only_from_dma_resv_lockdep(tmp_path, capsys):
    from tests.test_cli import run_cli

    src = tmp_path / "copy.py"
    src.write_text(COPY_UNDER_RESV)
    code, out, _err = run_cli(capsys, "locks", str(src))
    assert code == 1 and "primed at boot by dma_resv_lockdep()" in out  # v6.16: mmap_lock -> resv is primed
    code, out, _err = run_cli(capsys, "locks", str(src), "--kernel", "v5.7")
    assert code == 1  # the 2019 priming already has mmap_lock -> resv
    code, out, _err = run_cli(capsys, "locks", str(src), "--kernel", "v3.3")
    assert code == 0 and "no lock-order cycle" in out  # 2012: no dma_resv_lockdep(), no primed order


# ---- a work item is waited for by its flush: lockdep's work map and the wait-for graph -------------------

def flush_under_lock(bug: bool) -> Driver:
    """amdgpu userq destroy before f802f7b0bc09: cancel_delayed_work_sync(&queue->hang_detect_work) under
    userq_mutex, which the work takes."""
    d = Driver("flush-under-lock")
    lk = d.mutex("userq_mutex")

    @d.work("hang_detect_work")
    def hang_detect(k):
        k.mutex_lock(lk)
        k.mutex_unlock(lk)

    @d.thread("signal_ioctl")
    def signal_ioctl(k):
        k.queue_work("hang_detect_work")

    @d.thread("destroy")
    def destroy(k):
        k.mutex_lock(lk)
        if bug:
            k.flush_work("hang_detect_work", cancel=True)
            k.mutex_unlock(lk)
        else:
            k.mutex_unlock(lk)
            k.flush_work("hang_detect_work", cancel=True)

    return d


def test_a_flush_under_a_lock_the_work_takes_is_a_wait_for_cycle():
    assert found(flush_under_lock(True)) == {"no-fence-wait-deadlock": 3, "no-stuck-state": 3}  # was: no-stuck-state only


def test_the_flush_after_unlocking_holds():
    holds(flush_under_lock(False))


FLUSH = """\
from dmabuf_check.model.driver import Driver
d = Driver("flush-under-lock")
lk = d.mutex("userq_mutex")

@d.work("hang_detect_work")
def hang_detect(k):
    k.mutex_lock(lk)
    k.mutex_unlock(lk)

@d.thread("destroy")
def destroy(k):
    k.queue_work("hang_detect_work")
    k.mutex_lock(lk)
    k.flush_work("hang_detect_work", cancel=True)
    k.mutex_unlock(lk)
DESIGN = d
"""


def test_lockdep_reports_the_flush_through_the_work_map(tmp_path, capsys):
    from tests.test_cli import run_cli

    src = tmp_path / "flush.py"
    src.write_text(FLUSH)
    code, out, _err = run_cli(capsys, "locks", str(src))
    assert code == 1
    assert "(work_completion)(hang_detect_work) -> userq_mutex first taken by hang_detect_work" in out
    assert "userq_mutex -> (work_completion)(hang_detect_work) first taken by destroy" in out


# ---- atomic read-modify-write on driver state ----------------------------------------------------------

def free_once(how: str) -> Driver:
    """The timer and the fence callback race to complete a request (i915 sw_fence, 81c0ed21aa91's xchg):
    only the one that wins the atomic flag may free it; a plain test-then-set lets both through."""
    d = Driver("free-once")
    done = d.field("cb->done")
    req = d.mem("req", live=True, owner="dev")
    d.holder("dev")

    def racer(k):
        if how == "plain":
            k.goto_if(done.value == 1, "out", "if (cb->done) return")
            k.set(done, 1, "cb->done = 1")
        elif how == "test_and_set":
            k.test_and_set_bit(done, was_set="out")
        elif how == "cmpxchg":
            k.cmpxchg(done, 0, 1, fail="out")
        else:
            k.xchg(done, 1, old=1, goto="out")
        k.kfree(req)
        k.label("out")

    d.thread("timer", context="softirq")(racer)
    d.thread("fence_cb")(racer)
    return d


@pytest.mark.parametrize("how", ["test_and_set", "cmpxchg", "xchg"])
def test_an_atomic_flag_lets_one_racer_free(how):
    holds(free_once(how))


def test_a_plain_test_then_set_lets_both_free():
    assert found(free_once("plain")) == {"double-free": 5}


def test_a_bit_operation_needs_one_outcome_label():
    d = Driver("bitop")
    f = d.field("flag")

    @d.thread("t")
    def t(k):
        k.test_and_set_bit(f)

    with pytest.raises(ModelError, match="give exactly one of was_set= or was_clear="):
        d.build()


# ---- a container whose fences all signaled is signaled to dma_fence_is_signaled() ---------------------

def unwaited_chain(signal: bool) -> Driver:
    """drm_syncobj_add_point(): a timeline point nobody waits on; its fence signals (or, the bug, never)."""
    d = Driver("unwaited-chain")
    f = d.fence("job_fence", live=True, owners=("submit",))
    d.fence_chain("point1", f, owners=(d.holder("syncobj"),))

    @d.thread("submit")
    def submit(k):
        if signal:
            k.dma_fence_signal(f)
        k.dma_fence_put(f)

    return d


def test_a_chain_point_whose_fence_signaled_is_not_left_unsignaled():
    violated, _vacuous, _r, _m = run(unwaited_chain(True))
    assert "fence-signals" not in violated  # was: point1 never signaled (nobody enabled signaling on it)


def test_a_chain_point_whose_fence_never_signals_is_still_found():
    violated, _vacuous, _r, _m = run(unwaited_chain(False))
    assert violated["fence-signals"] == 1


# ---- finite timeouts and usage classes on waits --------------------------------------------------------

def wait_timeout(bug: bool) -> Driver:
    """A teardown waits for the job's fence with a timeout; on -ETIME the buffer is still in use by the GPU
    (the job runs on), so freeing it anyway is DMA into freed memory."""
    d = Driver("wait-timeout")
    bo = d.mem("bo", live=True, owner="teardown")
    f = d.fence("job_fence", live=True, owners=(d.holder("ring"),))

    @d.irq("gpu")
    def gpu(k):
        k.use(bo, "the job's DMA writes bo")
        k.dma_fence_signal(f)

    @d.thread("teardown")
    def teardown(k):
        k.dma_fence_wait(f, timeout="timed_out")
        k.label("free")
        k.kfree(bo)
        k.ret(0)
        k.label("timed_out")
        if bug:
            k.goto("free")  # treats 0 (timed out) like success
        k.dma_fence_wait(f)  # the fix: wait for the job before freeing what it uses
        k.goto("free")

    return d


def test_freeing_after_a_timed_out_wait_is_found():
    assert found(wait_timeout(True)) == {"use-after-free": 2}


def test_a_timed_out_wait_handled_holds():
    holds(wait_timeout(False))


def test_a_bounded_wait_under_the_signallers_lock_is_no_deadlock():
    d = Driver("bounded")
    lk = d.mutex("A")
    f = d.fence("f", live=True, owners=(d.holder("h"),))

    @d.thread("waiter")
    def waiter(k):
        k.mutex_lock(lk)
        k.dma_fence_wait(f, timeout="out")
        k.label("out")
        k.mutex_unlock(lk)

    @d.thread("signaller")
    def signaller(k):
        k.mutex_lock(lk)
        k.dma_fence_signal(f)
        k.mutex_unlock(lk)

    holds(d)  # the wait times out and the signaller gets the lock


def resv_usage(wait_usage: str) -> Driver:
    """A BOOKKEEP fence (a page-table update, an eviction fence) is not waited for by a WRITE-usage wait."""
    d = Driver("resv-usage")
    r = d.resv("bo->resv")
    bo = d.mem("pages", live=True, owner="evict")
    f = d.fence("pt_update", live=True, owners=("submit", d.holder("ring")))
    submitted = d.completion("submitted")

    @d.thread("submit")
    def submit(k):
        k.dma_resv_lock(r)
        k.dma_resv_reserve_fences(r)
        k.dma_resv_add_fence(r, f, "BOOKKEEP")
        k.dma_resv_unlock(r)
        k.dma_fence_put(f)
        k.complete(submitted)

    @d.irq("gpu")
    def gpu(k):
        k.use(bo, "the update's DMA")
        k.dma_fence_signal(f)

    @d.thread("evict")
    def evict(k):
        k.wait_for_completion(submitted)
        k.dma_resv_lock(r)
        k.dma_resv_wait_timeout(r, wait_usage)
        k.dma_resv_unlock(r)
        k.kfree(bo)

    return d


def test_a_wait_of_a_stronger_usage_misses_bookkeep_fences():
    assert found(resv_usage("WRITE")) == {"use-after-free": 11}


def test_a_bookkeep_wait_waits_for_every_fence():
    holds(resv_usage("BOOKKEEP"))


# ---- wait queues: a waker that changes the condition without wake_up loses the wakeup ------------------

def wait_available(bug: bool, timeout: bool = False) -> Driver:
    """drm_syncobj_array_wait_timeout() with WAIT_AVAILABLE: the waiter sleeps until a fence is attached;
    drm_syncobj_add_point() attaches it and wakes the waiters. The bug wakes nobody (the waiter was never put
    on syncobj->cb_list), so the sleeper never rechecks."""
    d = Driver("wait-available")
    wq = d.waitqueue("syncobj->cb_list")
    available = d.field("syncobj->fence")

    @d.thread("wait_ioctl")
    def wait_ioctl(k):
        k.wait_event(wq, available.value == 1, timeout="etime" if timeout else None)
        k.label("etime")

    @d.thread("add_point")
    def add_point(k):
        k.set(available, 1, "rcu_assign_pointer(syncobj->fence, fence)")
        if not bug:
            k.wake_up(wq, "list_for_each_entry(cur, &syncobj->cb_list) syncobj_wait_syncobj_func()")

    return d


def test_a_lost_wakeup_leaves_the_waiter_asleep():
    assert found(wait_available(True)) == {"no-stuck-state": 2}


def test_a_woken_waiter_rechecks_and_goes_on():
    holds(wait_available(False))


def test_a_wait_event_timeout_ends_the_lost_wakeup():
    assert found(wait_available(True, timeout=True)) == {}


# ---- a helper's error return goes to the caller's error path ------------------------------------------

def helper_error(bug: bool) -> Driver:
    """``ret = prepare(obj); if (ret) goto err;``: the helper allocates, and on its own failure frees and
    returns -ENOMEM; the caller must not free again (the bug unwinds what the helper already unwound)."""
    d = Driver("helper-error")
    buf = d.mem("buf")

    def prepare(k):
        k.kzalloc(buf, fail="nomem")
        k.may_goto("err", "if (copy_from_user(...))")
        k.ret(0)
        k.label("err")
        k.kfree(buf)
        k.ret("-EFAULT")
        k.label("nomem")
        k.ret("-ENOMEM")

    @d.thread("ioctl")
    def ioctl(k):
        k.call(prepare, fail="err")
        k.kfree(buf)
        k.ret(0)
        k.label("err")
        if bug:
            k.kfree(buf, "kfree(buf) /* again */")

    return d


def test_a_helper_error_that_is_unwound_twice_is_found():
    assert found(helper_error(True)) == {"double-free": 3}


def test_a_helper_error_unwound_once_holds():
    holds(helper_error(False))


# ---- timers and irq_work ---------------------------------------------------------------------------

def timer_delete(sync: bool, in_callback: bool, signal_context: str = "softirq") -> Driver:
    """A request's timeout timer and its completion: the completion must wait for a running timer callback
    before freeing the request (timer_delete_sync), and may not do that from a fence callback, which runs
    in atomic context (i915 81c0ed21aa91: the wait moved to an irq_work)."""
    d = Driver("timer-delete")
    req = d.mem("req", live=True, owner="complete")
    f = d.fence("f", live=True, owners=(d.holder("ring"),))

    @d.timer("timeout")
    def timeout(k):
        k.use(req, "req->timedout = true")

    @d.thread("submit", context=signal_context)  # another request's timer signals the fence
    def submit(k):
        k.mod_timer("timeout")
        k.dma_fence_signal(f)

    def cb(k):
        k.timer_delete_sync("timeout")

    @d.thread("complete")
    def complete(k):
        if in_callback:
            k.dma_fence_add_callback(f, cb, fail="signaled")
            k.label("signaled")
        k.dma_fence_wait(f)
        if sync:
            k.timer_delete_sync("timeout")
        else:
            k.timer_delete("timeout")
        k.kfree(req)

    return d


def test_freeing_after_a_non_sync_timer_delete_races_the_callback():
    assert found(timer_delete(False, False)) == {"use-after-free": 6}


def test_timer_delete_sync_before_free_holds():
    holds(timer_delete(True, False))


def test_timer_delete_sync_in_a_fence_callback_signalled_from_a_timer_is_found():
    violated, _vacuous, _r, _m = run(timer_delete(True, True))
    assert violated["sleep-in-atomic"] == 5  # i915 81c0ed21aa91: the callback runs inside a timer
    violated, _vacuous, _r, _m = run(timer_delete(True, True, signal_context="process"))
    assert "sleep-in-atomic" not in violated  # it spins, which process context with IRQs off may do


# ---- a dma_resv lives and dies with the object that embeds it ------------------------------------------

def delayed_delete(bug: bool) -> Driver:
    """nouveau prime before 8ec0fbb28d04: the imported BO's resv is the exporter's (bo->base.resv =
    dmabuf->resv); the GEM free drops the dma-buf reference before TTM's delayed delete waits on that resv."""
    d = Driver("delayed-delete")
    buf = d.dma_buf("dmabuf", live=True, owners=("gem_close",))

    @d.work("ttm_bo_delayed_delete")
    def delayed(k):
        k.dma_resv_wait_timeout(buf.resv, "BOOKKEEP")
        k.dma_resv_lock(buf.resv)
        k.dma_resv_unlock(buf.resv)
        if not bug:
            k.dma_buf_put(buf, "drm_prime_gem_destroy(): dma_buf_put(dma_buf)")

    @d.thread("gem_close")
    def gem_close(k):
        if bug:
            k.dma_buf_put(buf, "drm_prime_gem_destroy(): dma_buf_put(dma_buf)")
            k.queue_work("ttm_bo_delayed_delete")
        else:
            k.queue_work("ttm_bo_delayed_delete", pass_refs=(buf,))

    return d


def test_a_wait_on_the_resv_of_a_freed_dma_buf_is_a_use_after_free():
    assert found(delayed_delete(True)) == {"use-after-free": 5}  # was: nothing, a resv had no lifetime


def test_dropping_the_dma_buf_after_the_delayed_delete_holds():
    holds(delayed_delete(False))


# ---- a pointer that may point at one of several objects -------------------------------------------------

def syncobj_replace(bug: bool) -> Driver:
    """drm_syncobj before 'drm/syncobj: Add a race-free drm_syncobj_fence_get helper' (2017): the lookup
    reads syncobj->fence and takes a reference afterwards, racing drm_syncobj_replace_fence(), whose xchg
    and dma_fence_put(old) may free it in between. The fix reads and gets under syncobj->lock."""
    d = Driver("syncobj-replace")
    lk = d.spinlock("syncobj->lock")
    old = d.fence("old_fence", live=True, owners=("signal",))  # and the syncobj's
    new = d.fence("new_fence", live=True, owners=("replace", d.holder("timeline_b")))
    ptr = d.pointer("syncobj->fence", (old, new), init=old)

    @d.thread("replace", kernel="drm_syncobj_replace_fence()")
    def replace(k):
        k.spin_lock(lk)
        k.ptr_xchg(ptr, new)  # old = rcu_replace_pointer(syncobj->fence, fence): its reference is ours now
        k.spin_unlock(lk)
        k.dma_fence_put(old)

    @d.thread("find", kernel="drm_syncobj_find_fence()")
    def find(k):
        if not bug:
            k.spin_lock(lk)
        k.ptr_switch(ptr, {old: "got_old", new: "got_new"})
        k.label("got_old")
        k.dma_fence_get(old)
        if not bug:
            k.spin_unlock(lk)
        k.dma_fence_wait(old)
        k.dma_fence_put(old)
        k.ret(0)
        k.label("got_new")
        k.dma_fence_get(new)
        if not bug:
            k.spin_unlock(lk)
        k.dma_fence_put(new)

    @d.irq("signal")
    def signal(k):
        k.dma_fence_signal(old)
        k.dma_fence_put(old)
        k.dma_fence_signal(new)

    return d


def test_a_fence_read_from_a_pointer_and_referenced_later_races_its_replacement():
    assert found(syncobj_replace(True)) == {"use-after-free": 8}


def test_reading_and_referencing_under_the_lock_holds():
    holds(syncobj_replace(False))


def test_a_pointer_stored_over_its_reference_leaks():
    d = Driver("ptr-leak")
    a = d.fence("a", live=True, owners=(d.holder("ring"),))
    b = d.fence("b", live=True, owners=("t", d.holder("ring2")))
    ptr = d.pointer("job->parent", (a, b), init=a)

    @d.thread("t")
    def t(k):
        k.ptr_store(ptr, b)
        k.dma_fence_signal(a)
        k.dma_fence_signal(b)

    violated, _vacuous, _r, _m = run(d)
    assert violated["kref-leak"] == 0  # overwritten while it holds a's reference


def test_a_slot_read_without_the_lock_that_protects_it_is_found():
    # drm_sched_job_timedout() before 135517d3565b looked at ring_mirror_list's first job without job_list_lock
    def make(bug: bool) -> Driver:
        d = Driver("unlocked-list")
        lk = d.spinlock("sched->job_list_lock")
        job = d.kref("job", live=True, owners=(d.holder("sched"),))
        lst = d.slot("sched->pending_list", job, kind="list", installed=True, holds_ref=False, lock=lk)

        @d.thread("timedout")
        def timedout(k):
            if not bug:
                k.spin_lock(lk)
            k.peek(lst, fail="out", text="list_first_entry_or_null(&sched->pending_list)")
            k.label("out")
            if not bug:
                k.spin_unlock(lk)

        @d.thread("cleanup")
        def cleanup(k):  # drm_sched_get_cleanup_job(): list_del_init(&job->list) under the lock
            k.spin_lock(lk)
            k.unpublish(lst, text="list_del_init(&job->list)")
            k.spin_unlock(lk)

        return d

    assert found(make(True)) == {"lockdep-assert-held": 0}
    holds(make(False))


# ---- direct reclaim runs the driver's shrinkers inside a GFP_KERNEL allocation ------------------------

def pool_alloc(gfp: str, trylock: bool) -> Driver:
    """TTM's page pool before 'Use mutex_trylock() to avoid deadlock inside shrinker functions' (2014): an
    allocation under _manager->lock enters direct reclaim, whose shrinker takes the same lock."""
    d = Driver("pool-alloc")
    lk = d.mutex("_manager->lock")
    page = d.mem("page")

    @d.thread("pool_fill")
    def pool_fill(k):
        k.mutex_lock(lk)
        k.kzalloc(page, gfp, fail="nomem")
        k.kfree(page)
        k.label("nomem")
        k.mutex_unlock(lk)

    @d.shrinker("ttm_pool_shrink")
    def shrink(k):
        if trylock:
            k.mutex_trylock(lk, fail="busy")
        else:
            k.mutex_lock(lk)
        k.mutex_unlock(lk)
        k.label("busy")

    return d


def test_a_shrinker_taking_the_allocators_lock_deadlocks_in_direct_reclaim():
    # was: only locks saw it
    assert found(pool_alloc("GFP_KERNEL", trylock=False)) == {"no-fence-wait-deadlock": 2, "no-stuck-state": 2}


def test_a_trylocking_shrinker_or_an_atomic_allocation_holds():
    for gfp, trylock in (("GFP_KERNEL", True), ("GFP_ATOMIC", False)):
        violated, vacuous, _r, _m = run(pool_alloc(gfp, trylock))
        # the inlined trylock of the allocator's own lock never succeeds: not a vacuous step of the program
        assert violated == {} and vacuous == [], (gfp, trylock)


# ---- rw_semaphore and the process's mmap_lock ------------------------------------------------------------

def ttm_fault(bug: bool) -> Driver:
    """TTM's fault path before c58f009e01c9: the fault holds mmap_lock (read) and blocks on the BO's
    reservation, while an ioctl holding the reservation faults in copy_from_user behind a queued writer
    (munmap): a three-way deadlock. The fix trylocks the reservation and retries without mmap_lock."""
    d = Driver("ttm-fault")
    d.mm()
    r = d.resv("bo->resv")

    @d.thread("fault", kernel="ttm_bo_vm_fault()")
    def fault(k):
        k.mmap_read_lock()
        if bug:
            k.dma_resv_lock(r)
        else:
            k.dma_resv_trylock(r, fail="retry")  # VM_FAULT_RETRY: drop mmap_lock, wait, fault again
        k.dma_resv_unlock(r)
        k.label("retry")
        k.mmap_read_unlock()

    @d.thread("execbuf")
    def execbuf(k):
        k.dma_resv_lock(r)
        k.copy_from_user("copy_from_user(relocs)")
        k.dma_resv_unlock(r)

    @d.userspace("munmap")
    def munmap(k):
        k.mmap_write_lock()
        k.mmap_write_unlock()

    return d


def test_a_fault_blocking_on_the_resv_behind_a_queued_writer_deadlocks():
    assert found(ttm_fault(True)) == {"no-fence-wait-deadlock": 3, "no-stuck-state": 3}  # was: every property held


def test_the_trylocking_fault_holds():
    holds(ttm_fault(False))


def rwsem_users(probe_sharing: bool) -> Driver:
    d = Driver("rwsem")
    sem = d.rwsem("vm->lock")
    n = d.field("readers", max_value=2)

    def reader(k):
        k.down_read(sem)
        k.inc(n)
        if probe_sharing:
            k.warn_on(n.value == 2, "both readers are inside")
        k.dec(n)
        k.up_read(sem)

    d.thread("r1")(reader)
    d.thread("r2")(reader)

    @d.thread("w")
    def w(k):
        k.down_write(sem)
        k.warn_on(n.value != 0, "WARN_ON(a reader inside the write section)")
        k.up_write(sem)

    return d


def test_a_writer_excludes_the_readers_of_an_rwsem():
    holds(rwsem_users(False))


def test_readers_share_an_rwsem():
    assert found(rwsem_users(True)) == {"driver-assert": 4}  # both readers inside at once: reachable


# ---- an importer already set up at the start --------------------------------------------------------

def mapped_importer(bug: bool) -> Driver:
    d = Driver("mapped-importer")
    buf = d.dma_buf("buf", live=True, owners=("teardown", d.holder("exporter")))
    att = d.attachment("att", buf, state="MAPPED", owner="teardown")

    @d.thread("teardown")
    def teardown(k):
        k.dma_access(att)
        k.dma_buf_unmap_attachment(att)
        if bug:
            k.dma_buf_put(buf)
            k.dma_buf_detach(att)
        else:
            k.dma_buf_detach(att)
            k.dma_buf_put(buf)

    return d


def test_an_attachment_can_start_mapped():
    violated, vacuous, r, _m = run(mapped_importer(False))
    assert violated == {} and vacuous == [] and r.states == 9  # no attach or map steps to explore
    assert found(mapped_importer(True)) == {"attach-holds-ref": 5}


def test_an_attachment_that_starts_attached_names_its_owner():
    d = Driver("bad-start")
    buf = d.dma_buf("buf", live=True, owners=("t",))
    with pytest.raises(ModelError, match="needs owner="):
        d.attachment("att", buf, state="MAPPED")


# ---- kmemleak's view: references held by freed or unreachable objects ------------------------------------

def set_name(bug: bool) -> Driver:
    """d1f37226431f 'dma-buf: free dmabuf->name in dma_buf_release()': DMA_BUF_SET_NAME kstrdup()s the name
    into a field of the dma-buf; the release must kfree it."""
    d = Driver("set-name")
    name = d.mem("name")

    def release(k):
        if not bug:
            k.ptr_xchg(field, None, "name = dmabuf->name")
            k.kfree(name)

    buf = d.dma_buf("dmabuf", live=True, owners=("ioctl",), ops={"release": release})
    field = d.pointer("dmabuf->name", (name,), of=buf)

    @d.thread("ioctl")
    def ioctl(k):
        k.kzalloc(name, fail="nomem", text="name = kstrdup_const(buf, GFP_KERNEL)")
        k.ptr_xchg(field, name, "dmabuf->name = name")
        k.label("nomem")
        k.dma_buf_put(buf)

    return d


def test_a_field_still_holding_memory_when_its_object_is_freed_leaks():
    assert found(set_name(True)) == {"kref-leak": 5}  # was: every property held


def test_the_release_that_frees_the_field_holds():
    holds(set_name(False))


def export_vs_close(bug: bool) -> Driver:
    """319c933c71f3 'drm/prime: proper locking+refcounting for obj->dma_buf link': an export that stores
    obj->dma_buf after the last handle's close already cleared it leaves the GEM object and its dma-buf
    holding each other: nothing reaches either once every thread is done."""
    d = Driver("export-vs-close")
    lk = d.mutex("dev->object_name_lock")
    handles = d.field("obj->handle_count", init=1)
    obj = d.kref("gem", live=True, owners=("export", "close"))

    def dmabuf_release(k):
        k.kref_put(obj, "drm_gem_dmabuf_release(): drm_gem_object_put(obj)")

    buf = d.dma_buf("dmabuf", ops={"release": dmabuf_release})
    link = d.slot("obj->dma_buf", buf, kind="ptr", of=obj)

    @d.thread("export")
    def export(k):
        k.mutex_lock(lk)
        if not bug:
            k.goto_if(handles.value == 0, "gone", "if (obj->handle_count == 0) return -ENOENT")
        k.dma_buf_export(buf, priv=obj, fail="gone")  # the dma-buf now holds the export's object reference
        k.publish(link, "obj->dma_buf = dmabuf")  # with the export's dma-buf reference
        k.mutex_unlock(lk)
        k.ret(0)
        k.label("gone")
        k.mutex_unlock(lk)
        k.kref_put(obj)

    @d.thread("close")
    def close(k):
        k.mutex_lock(lk)
        k.dec(handles, text="--obj->handle_count")
        k.unpublish(link, fail="no_buf", text="dma_buf = obj->dma_buf; obj->dma_buf = NULL")
        k.mutex_unlock(lk)
        k.dma_buf_put(buf)
        k.kref_put(obj)
        k.ret(0)
        k.label("no_buf")
        k.mutex_unlock(lk)
        k.kref_put(obj)

    return d


def test_a_reference_cycle_left_when_every_thread_is_done_leaks():
    assert found(export_vs_close(True)) == {"kref-leak": 9}


def test_the_export_that_rechecks_the_handles_holds():
    holds(export_vs_close(False))


# ---- removing an absent entry: list corruption, or a no-op ------------------------------------------------

def test_a_list_del_of_an_unlisted_entry_is_list_corruption():
    # dma_buf_export() error path before ef3a6b70507a: the file release list_del()s a node never added
    d = Driver("unlisted")
    obj = d.kref("dmabuf", live=True, owners=("export",))
    lst = d.slot("db_list", obj, kind="list", holds_ref=False)

    @d.thread("export")
    def export(k):
        k.unpublish(lst, text="list_del(&dmabuf->list_node)")
        k.kref_put(obj)

    assert found(d) == {"list-del-unlisted": 0}  # was: a stuck state, the removal waited for the entry


def test_removing_an_absent_handle_hands_back_nothing():
    # idr_remove() of an id that is gone returns NULL: putting "its" reference is a put without one
    d = Driver("absent-handle")
    obj = d.kref("gem", live=True, owners=(d.holder("dev"),))
    handle = d.slot("object_idr", obj, kind="idr")

    @d.thread("close")
    def close(k):
        k.unpublish(handle, text="obj = idr_remove(&file->object_idr, handle)")
        k.kref_put(obj)

    assert found(d) == {"kref-put-noref": 1}


def test_every_call_takes_the_programs_own_text():
    import inspect

    from dmabuf_check.model.driver.code import _NO_TEXT, Code

    calls = [n for n, f in inspect.getmembers(Code, inspect.isfunction) if not n.startswith("_") and n not in _NO_TEXT]
    def takes_text(fn) -> bool:  # its own parameter, or the one _accepts_text adds around it
        return any("text" in inspect.signature(fn, follow_wrapped=w).parameters for w in (True, False))

    assert [n for n in calls if not takes_text(getattr(Code, n))] == []
    d = Driver("texts")
    f = d.fence("f", live=True, owners=(d.holder("h"),))

    @d.thread("w")
    def w(k):
        k.dma_fence_wait(f, text="dma_fence_wait_timeout(fence, true, msecs_to_jiffies(10))")

    @d.thread("s")
    def s(k):
        k.dma_fence_signal(f, text="dma_fence_signal(&job->hw_fence)")

    m, _info = d.build()
    assert [a.call for a in m.actions][:2] == ["dma_fence_wait_timeout(fence, true, msecs_to_jiffies(10))",
                                               "dma_fence_signal(&job->hw_fence)"]


# ---- pointer dereference, dma_fence_get_rcu_safe, non-sync cancels ---------------------------------------

def rcu_safe(bug: str | None) -> Driver:
    """A reader takes a reference to syncobj->fence while drm_syncobj_replace_fence() swaps it and drops
    the old one: dma_fence_get_rcu_safe() under rcu_read_lock() is the kernel's answer."""
    d = Driver("rcu-safe")
    old = d.fence("old_fence", live=True, owners=("signal",))
    new = d.fence("new_fence", live=True, owners=("replace", d.holder("timeline")))
    ptr = d.pointer("syncobj->fence", (old, new), init=old)

    @d.thread("replace")
    def replace(k):
        k.ptr_xchg(ptr, new)
        k.dma_fence_put(old)

    @d.thread("find")
    def find(k):
        if bug == "borrow":  # READ_ONCE and use, outside RCU and without a reference: the fence may go
            k.ptr_switch(ptr, {new: "borrowed"})
            k.use(old, "fence->seqno")
            k.label("borrowed")
        if bug != "no-rcu":
            k.rcu_read_lock()
        k.dma_fence_get_rcu_safe(ptr, {old: "got_old", new: "got_new"})
        k.label("got_old")
        if bug != "no-rcu":
            k.rcu_read_unlock()
        k.dma_fence_put(old)
        k.ret(0)
        k.label("got_new")
        if bug != "no-rcu":
            k.rcu_read_unlock()
        k.dma_fence_put(new)

    @d.irq("signal")
    def signal(k):
        k.dma_fence_signal(old)
        k.dma_fence_put(old)
        k.dma_fence_signal(new)

    return d


def test_dma_fence_get_rcu_safe_takes_a_reference_to_whatever_the_pointer_holds():
    holds(rcu_safe(None))


def test_dma_fence_get_rcu_safe_outside_rcu_and_a_plain_dereference_are_found():
    assert run(rcu_safe("no-rcu"))[0] == {"use-after-free": 0}
    assert run(rcu_safe("borrow"))[0] == {"use-after-free": 6}


def test_a_pointer_dereference_of_null_is_found():
    d = Driver("null-deref")
    f = d.fence("f", live=True, owners=(d.holder("h"),))
    ptr = d.pointer("v3d->bin_job", (f,))

    @d.irq("irq")
    def irq(k):
        k.ptr_use(ptr, "v3d->bin_job->irq_fence")
        k.dma_fence_signal(f)

    assert run(d)[0] == {"null-deref": 0}


def test_a_non_sync_cancel_says_whether_the_work_was_pending():
    d = Driver("cancel")
    pending = d.field("was_pending")

    @d.work("tdr")
    def tdr(k):
        k.set(pending, 0)

    @d.thread("reset")
    def reset(k):
        k.queue_delayed_work("tdr")
        k.cancel_work("tdr", pending="requeue")
        k.ret(0)
        k.label("requeue")
        k.set(pending, 1, "cancel_delayed_work() returned true")

    violated, vacuous, r, _m = run(d)
    assert violated == {} and vacuous == []  # both outcomes of the cancel happen


def test_a_lock_leads_only_to_the_threads_that_can_hold_it():
    # the static wait-for graph had an edge from every lock to every thread: merging programs multiplied
    # the candidate cycles (msm's 14 and amdkfd's 56 became 5,290) and compiled for seconds
    import importlib

    from dmabuf_check.properties import waitfor

    counts = {}
    for mod in ("signal_paths", "teardown_waits", "fence_locks", "held_waits"):
        m, _info = importlib.import_module(f"dmabuf_check.model.designs.programs.{mod}").DESIGN.build()
        counts[mod] = len(waitfor.candidate_cycles(m))
    assert counts == {"signal_paths": 15, "teardown_waits": 10, "fence_locks": 6, "held_waits": 6}  # 137, 99, 45, 24


def test_a_programs_only_acquire_context_never_gets_edeadlk():
    d = Driver("one-ctx")
    a, b = d.resv("a->resv"), d.resv("b->resv")

    @d.thread("exec")
    def exec_(k):
        k.ww_acquire_init()
        k.dma_resv_lock(a, ctx=True, edeadlk="backoff")
        k.dma_resv_lock(b, ctx=True, edeadlk="backoff")
        k.dma_resv_unlock(b)
        k.label("backoff")
        k.dma_resv_unlock(a)
        k.ww_acquire_fini()

    @d.thread("evict")
    def evict(k):  # a NULL-context locker waits; it never makes a context die
        k.dma_resv_lock(b)
        k.dma_resv_unlock(b)

    violated, vacuous, _r, m = run(d)
    assert violated == {} and vacuous == []  # was: a vacuous exec_1_edeadlk
    assert not [x.name for x in m.actions if x.name.endswith("_edeadlk")]


def test_an_allocation_can_belong_to_an_object_from_the_start():
    """cma_heap_vmap(): buffer->vaddr = vmap(...) belongs to the buffer (freed by vunmap or the release),
    not to whichever thread's vmap made it."""
    def make(bug: bool) -> Driver:
        d = Driver("vaddr")
        vaddr = d.mem("buffer->vaddr")

        def vmap(k):
            k.kzalloc(vaddr, into=buf, fail="nomem", text="buffer->vaddr = vmap(pages)")
            k.label("nomem")

        def release(k):
            if not bug:
                k.kfree(vaddr, "vunmap(buffer->vaddr)")

        buf = d.dma_buf("buf", live=True, owners=("user",), ops={"vmap": vmap, "release": release})

        @d.thread("user")
        def user(k):
            k.dma_buf_vmap(buf)
            k.dma_buf_put(buf)

        return d

    holds(make(False))  # was: "user returns still holding a reference to buffer->vaddr"
    # the release forgot it: freed with a reference to live memory (dma_buf_vmap_unlocked takes the resv: 2 steps)
    assert found(make(True)) == {"kref-leak": 7}


def test_the_cli_does_not_call_dead_release_paths_vacuous(capsys):
    from tests.test_cli import run_cli

    code, out, _err = run_cli(capsys, "check", "teardown-waits")
    assert code == 0 and "all 15 properties hold" in out and "vacuous" not in out  # a put that is not the last


# ---- the DMA API's streaming mappings (CONFIG_DMA_API_DEBUG) ---------------------------------------------

def udmabuf_sg(bug: str | None) -> Driver:
    """udmabuf before 'udmabuf: fix DMA direction mismatch in release_udmabuf()' (2026, Fixes 284562e1f348):
    begin_cpu_access maps the cached sg table with the caller's direction, release unmaps it bidirectional."""
    d = Driver("udmabuf-sg")
    sg = d.dma_mapping("ubuf->sg")

    def begin_cpu_access(k):
        k.dma_map_sgtable(sg, "DMA_FROM_DEVICE", fail="err", text="ubuf->sg = get_sg_table(dev, buf, direction)")
        k.ret(0)
        k.label("err")
        k.ret("-ENOMEM")

    def release(k):
        if bug == "leak":
            return
        k.goto_if(~sg.mapped, "none", "if (ubuf->sg)")
        k.dma_unmap_sgtable(sg, "DMA_BIDIRECTIONAL" if bug == "direction" else "DMA_FROM_DEVICE",
                            text="put_sg_table(dev, ubuf->sg, direction)")
        k.label("none")

    buf = d.dma_buf("buf", live=True, owners=("user",), ops={"begin_cpu_access": begin_cpu_access,
                                                          "release": release})

    @d.thread("user")
    def user(k):
        k.dma_buf_begin_cpu_access(buf, fail="put")
        k.dma_buf_end_cpu_access(buf)
        k.label("put")
        k.dma_buf_put(buf)

    return d


def test_a_dma_unmap_with_another_direction_is_found():
    assert run(udmabuf_sg("direction"))[0] == {"dma-api": 6}


def test_a_dma_mapping_left_at_the_end_is_found():
    assert run(udmabuf_sg("leak"))[0] == {"dma-api": 7}


def test_the_mapping_unmapped_with_its_direction_holds():
    holds(udmabuf_sg(None))


# ---- the core's dma_buf_release() can be replaced too ----------------------------------------------------

def release_order(teardown_after_release: bool) -> Driver:
    """63c57e8dc7a0 'dma_buf: remove dmabuf sysfs teardown before release': the core's sysfs teardown reads
    the exporter's data (exporter_name), so it must run before the exporter's release op frees it."""
    d = Driver("release-order")
    priv = d.mem("exp_data", live=True, owner="buf")

    def release(k):
        k.kfree(priv, "exporter release: kfree(exp_data)")

    buf = d.dma_buf("buf", live=True, owners=("user",), ops={"release": release})

    @d.core("dma_buf_release")
    def dma_buf_release(k, b, *, default):
        if not teardown_after_release:
            k.use(priv, "dma_buf_stats_teardown(): exporter_name_show() drained")
        default()
        if teardown_after_release:
            k.use(priv, "dma_buf_stats_teardown(): exporter_name_show() drained")

    @d.thread("user")
    def user(k):
        k.dma_buf_put(buf)

    return d


def test_a_core_release_that_tears_down_after_the_exporters_release_is_found():
    assert found(release_order(True)) == {"use-after-free": 4}


def test_the_core_release_that_tears_down_first_holds():
    holds(release_order(False))


def test_a_driver_does_not_call_the_cores_release():
    d = Driver("direct-release")
    buf = d.dma_buf("buf", live=True, owners=("user",))

    @d.thread("user")
    def user(k):
        k.dma_buf_release(buf)

    with pytest.raises(ModelError, match="dma_buf_release\\(\\) runs from the last dma_buf_put\\(\\)"):
        d.build()


# ---- drm_exec: a transaction over several reservation objects --------------------------------------------

def exec_pair(bug: str | None) -> Driver:
    """Two ioctls lock the same two BOs in opposite orders with drm_exec (amdgpu_gem_object_open and a CS,
    fd1fa48b935f): the contended one backs off, sleeps on the contended object and retries."""
    d = Driver("drm-exec")
    bo, vm = d.resv("abo->tbo.base.resv"), d.resv("vm->root.bo->tbo.base.resv")

    def transaction(first, second):
        def body(k):
            k.drm_exec_init()
            k.label("retry")
            k.drm_exec_lock_obj(first, retry="retry")
            k.drm_exec_lock_obj(second, retry="retry")
            k.dma_resv_assert_held(first)
            k.dma_resv_assert_held(second)
            if bug != "no-fini":
                k.drm_exec_fini()
        return body

    d.thread("gem_open")(transaction(bo, vm))
    d.thread("amdgpu_cs")(transaction(vm, bo))
    return d


def test_two_drm_exec_transactions_in_opposite_orders_hold():
    # (the younger transaction's first object never dies here: with two transactions the older one is done
    # before the younger retries, so that backoff path stays unused)
    assert found(exec_pair(None)) == {}


def test_a_drm_exec_transaction_left_unfinished_is_found():
    assert found(exec_pair("no-fini")) == {"lock-held-at-exit": 7, "no-stuck-state": 9}


# ---- a fence array created at run time --------------------------------------------------------------------

def merge(bug: bool) -> Driver:
    """sync_file_merge() / __dma_fence_unwrap_merge(): dma_fence_array_create() takes over the fence
    references only when it succeeds; on -ENOMEM the caller must drop them (949291c53140, ffe000217c50)."""
    d = Driver("merge")
    a = d.fence("a", live=True, owners=(d.holder("ring_a"),))
    b = d.fence("b", live=True, owners=(d.holder("ring_b"),))
    arr = d.fence_array("array", (a, b), created=False)

    @d.thread("merge")
    def merge_(k):
        k.dma_fence_get(a)
        k.dma_fence_get(b)
        k.dma_fence_array_create(arr, fail="enomem")
        k.dma_fence_wait(arr)
        k.dma_fence_put(arr)
        k.ret(0)
        k.label("enomem")
        if not bug:
            k.dma_fence_put(a)
            k.dma_fence_put(b)
        k.ret("-ENOMEM")

    @d.irq("ring_a_irq")
    def ring_a_irq(k):
        k.dma_fence_signal(a)

    @d.irq("ring_b_irq")
    def ring_b_irq(k):
        k.dma_fence_signal(b)

    return d


def test_an_array_create_failure_that_drops_nothing_leaks_the_fences():
    assert found(merge(True)) == {"kref-leak": 3}


def test_an_array_created_at_run_time_holds():
    holds(merge(False))


def add_point(bug: str | None, alloc_fails: bool = True) -> Driver:
    """drm_syncobj_add_point() / drm_syncobj_transfer_to_timeline(): a chain node allocated first (it may
    fail), then initialised over the job's fence and the previous point, which it takes over; an error path
    after the allocation frees the node with dma_fence_chain_free (a live node goes by its last put)."""
    d = Driver("add-point")
    prev = d.fence("prev", live=True, owners=(d.holder("timeline"),))
    job = d.fence("job", live=True, owners=(d.holder("ring"),))
    point = d.fence_chain("point", job, prev, created=False)

    @d.thread("ioctl")
    def ioctl(k):
        k.dma_fence_get(job)
        k.dma_fence_chain_alloc(point, **({"fail": "nomem"} if alloc_fails else {}))
        k.dma_fence_get(prev)
        k.may_goto("einval", "copy_from_user(&args) -> -EFAULT")
        if bug == "free-live":
            k.dma_fence_chain_init(point)
            k.dma_fence_chain_free(point)
            k.ret()
        k.dma_fence_chain_init(point)
        if bug == "put-handed":
            k.dma_fence_put(job)
        k.dma_fence_wait(point)
        k.dma_fence_put(point)
        k.ret(0)
        k.label("einval")
        k.dma_fence_put(prev)
        if bug != "leak-node":
            k.dma_fence_chain_free(point)
        k.label("nomem")
        k.dma_fence_put(job)
        k.ret("-EINVAL")

    @d.irq("timeline_irq")
    def timeline_irq(k):
        k.dma_fence_signal(prev)

    @d.irq("ring_irq")
    def ring_irq(k):
        k.dma_fence_signal(job)

    return d


@pytest.mark.parametrize("bug, prop, steps", [("leak-node", "kref-leak", 6), ("put-handed", "kref-put-noref", 5),
                                              ("free-live", "use-after-free", 5)])
def test_a_chain_node_built_at_run_time_has_its_lifetime_checked(bug, prop, steps):
    assert found(add_point(bug)) == {prop: steps}


def test_a_chain_node_built_at_run_time_holds():
    holds(add_point(None))


# ---- a resv's fences: replaced by a later fence of their context or once signaled; read by iterators ----

def resv_reader(bug: bool, *, same_context: bool = False, unlocked: bool = False,
                unlocked_walk: bool = False) -> Driver:
    """A fence found in a resv is borrowed: dma_resv_add_fence() puts the fence whose slot it takes (a
    signaled one, or an older one of its context), so a reader that keeps the pointer past the unlock
    without dma_fence_get() may use a freed fence."""
    d = Driver("resv-reader")
    r = d.resv("bo.resv")
    a = d.fence("a", live=True, owners=("job1", "irq"), context="ring", max_refs=6)
    b = d.fence("b", live=True, owners=("job2",), context="ring" if same_context else "")
    seen = d.pointer("seen", (a,), holds_ref=not bug)

    @d.thread("job1")
    def job1(k):
        k.dma_resv_lock(r)
        k.dma_resv_reserve_fences(r)
        k.dma_resv_add_fence(r, a, "WRITE")
        k.dma_resv_unlock(r)
        k.dma_fence_put(a)

    @d.thread("job2")
    def job2(k):
        k.dma_resv_lock(r)
        k.dma_resv_reserve_fences(r)
        k.dma_resv_add_fence(r, b, "WRITE")
        k.dma_resv_unlock(r)
        k.dma_fence_signal(b)
        k.dma_fence_put(b)

    @d.irq("irq")
    def irq(k):
        k.dma_fence_signal(a)
        k.dma_fence_put(a)

    @d.thread("reader")
    def reader(k):
        def body(k, f):
            if f is a:
                if not bug:
                    k.dma_fence_get(a)
                k.ptr_store(seen, a)
        if unlocked:
            k.dma_resv_for_each_fence_unlocked(r, "WRITE", body)
        else:
            if not unlocked_walk:
                k.dma_resv_lock(r)
            k.dma_resv_for_each_fence(r, "WRITE", body)
            if not unlocked_walk:
                k.dma_resv_unlock(r)
        k.ptr_switch(seen, {a: "use"}, null="out")
        k.label("use")
        k.dma_fence_wait(a)
        if not bug:
            k.ptr_xchg(seen, None)
            k.dma_fence_put(a)
        k.label("out")

    return d


@pytest.mark.parametrize("kw, steps", [({}, 18), ({"same_context": True}, 18), ({"unlocked": True}, 17)])
def test_a_resv_fence_kept_without_a_reference_is_used_after_the_resv_replaced_it(kw, steps):
    assert found(resv_reader(True, **kw)) == {"use-after-free": steps}


@pytest.mark.parametrize("kw", [{}, {"same_context": True}, {"unlocked": True}])
def test_a_resv_fence_kept_with_a_reference_holds(kw):
    holds(resv_reader(False, **kw))


def test_the_locked_fence_walk_needs_the_resv_lock():
    assert "resv-held" in found(resv_reader(False, unlocked_walk=True))


def resv_fini(bug: bool) -> Driver:
    """dma_buf_release() finishes the buffer's resv (dma_resv_fini puts every fence in it): a signalling path
    that relies on the resv's reference, not one of its own, signals a freed fence once the buffer goes."""
    d = Driver("resv-fini")
    buf = d.dma_buf("buf", live=True, owners=("submit",))
    f = d.fence("job", live=True, owners=("submit",) if bug else ("submit", "irq"))

    @d.thread("submit")
    def submit(k):
        k.dma_resv_lock(buf.resv)
        k.dma_resv_reserve_fences(buf.resv)
        k.dma_resv_add_fence(buf.resv, f, "WRITE")
        k.dma_resv_unlock(buf.resv)
        k.dma_fence_put(f)
        k.dma_buf_put(buf)

    @d.irq("irq")
    def irq(k):
        k.dma_fence_signal(f)
        if not bug:
            k.dma_fence_put(f)

    return d


def test_a_fence_kept_alive_only_by_a_released_buffers_resv_is_freed_with_it():
    assert found(resv_fini(True)) == {"use-after-free": 9}


def test_a_signaller_with_its_own_fence_reference_holds():
    holds(resv_fini(False))


def test_a_fence_added_twice_to_a_resv_is_held_once():
    """dma_resv_add_fence() of a fence already in the resv replaces it with itself: no second reference."""
    d = Driver("readd")
    r = d.resv("r")
    f = d.fence("f", live=True, owners=("t",), max_refs=2)

    @d.thread("t")
    def t(k):
        for _ in range(2):
            k.dma_resv_lock(r)
            k.dma_resv_reserve_fences(r)
            k.dma_resv_add_fence(r, f, "WRITE")
            k.dma_resv_unlock(r)
        k.dma_fence_signal(f)
        k.dma_fence_put(f)

    holds(d)


def busy_ioctl(bug: bool) -> Driver:
    """A busy query (dma_resv_test_signaled, as DRM_IOCTL_*_BUSY or a CPU-access fast path) after the job
    was submitted: the buffer is idle only once the job's fence signaled."""
    d = Driver("busy")
    r = d.resv("r")
    f = d.fence("f", live=True, owners=("job",))
    submitted = d.completion("submitted")

    @d.thread("job")
    def job(k):
        k.dma_resv_lock(r)
        k.dma_resv_reserve_fences(r)
        k.dma_resv_add_fence(r, f, "WRITE")
        k.dma_resv_unlock(r)
        k.complete(submitted)
        k.dma_fence_signal(f)
        k.dma_fence_put(f)

    @d.thread("cpu")
    def cpu(k):
        k.wait_for_completion(submitted)
        k.dma_resv_test_signaled(r, "KERNEL" if bug else "READ", busy="busy")
        k.warn_on(~f.signaled, "the CPU reads the buffer while the GPU writes it")
        k.label("busy")

    return d


def test_a_busy_query_of_kernel_fences_only_misses_the_write():
    """KERNEL < WRITE < READ < BOOKKEEP: a READ query sees the WRITE fence, a KERNEL query does not."""
    assert found(busy_ioctl(True)) == {"driver-assert": 7}


def test_a_busy_query_holds():
    holds(busy_ioctl(False))


# ---- DYN-7: a mapping a move invalidated stays usable by work the move still waits for ----------------

def revoke(bug: str | None) -> Driver:
    """vfio's dma-buf revoke (1a8a5227f229 'vfio: Wait for dma-buf invalidation to complete'): under the
    resv, move_notify, then wait for the importers' fences before the BAR goes. A job submitted before the
    notify may still DMA through its (now stale) mapping: the wait holds the revoke back; one submitted
    after it must not. The exporter shares its object's resv with the dma-buf (exp_info.resv = obj->resv)."""
    d = Driver("revoke")
    bar = d.mem("bar_mmio", live=True)
    obj = d.kref("vfio_region", live=True, owners=(d.holder("device"),))
    resv = d.resv("region.resv", of=obj)
    buf = d.dma_buf("dmabuf", live=True, owners=("importer", d.holder("vdev->dmabufs")), dynamic=True, resv=resv)
    job = d.fence("job", live=True, owners=("importer",))
    att = d.attachment("att", buf, dynamic=True, move_notify=lambda k: None, state="MAPPED", owner="importer")

    @d.thread("importer", kernel="the importer submits a peer-to-peer DMA job; its device runs it")
    def importer(k):
        k.dma_resv_lock(resv)
        if bug != "submit-stale":
            k.goto_if(att.stale, "revoked", "the mapping was invalidated: remap (which fails once revoked)")
        k.dma_resv_reserve_fences(resv)
        k.dma_resv_add_fence(resv, job, "BOOKKEEP")
        k.dma_resv_unlock(resv)
        k.dma_access(att, "the device's peer DMA through the mapping", fence=job)
        k.use(bar, "the peer DMA reaches the BAR")
        k.goto("done")
        k.label("revoked")
        k.dma_resv_unlock(resv)
        k.dma_fence_set_error(job, "-ENODEV")
        k.label("done")
        k.dma_fence_signal(job)
        k.dma_fence_put(job)
        k.dma_resv_lock(resv)
        k.dma_buf_unmap_attachment(att, locked=True)
        k.dma_resv_unlock(resv)
        k.dma_buf_detach(att)
        k.dma_buf_put(buf)

    @d.thread("revoke", kernel="vfio_pci_dma_buf_move(): revoke")
    def revoke_(k):
        k.dma_resv_lock(resv)
        k.dma_buf_move_notify(buf)
        if bug != "no-wait":
            k.dma_resv_wait_timeout(resv, "BOOKKEEP")
        k.dma_resv_unlock(resv)
        k.kfree(bar, "vfio_pci_zap_and_down_write_memory_lock(): the BAR is disabled")

    return d


def test_a_revoke_that_does_not_wait_for_the_importers_job_lets_it_dma_into_the_freed_bar():
    assert found(revoke("no-wait")) == {"use-after-free": 11}


def test_a_job_submitted_on_a_stale_mapping_breaks_dyn7():
    assert found(revoke("submit-stale")) == {"dma-through-live-mapping": 9, "use-after-free": 11}


def test_a_job_that_the_revoke_waits_for_may_finish_through_its_stale_mapping():
    holds(revoke(None))


# ---- a fence that has signaled from the start; names as C spells them -------------------------------

def stub_lookup(bug: bool) -> Driver:
    """drm_syncobj_find_fence() hands back dma_fence_get_stub() for a point already signaled: a waiter on it
    returns at once, and the static stub is never freed (no thread signals it, and none needs to)."""
    d = Driver("stub-lookup")
    stub = d.stub_fence()
    entry = d.fence("entries[0].fence", live=True, owners=("waiter", "signaller"))
    ptr = d.pointer("syncobj->fence", (stub, entry), init=stub)

    @d.thread("waiter")
    def waiter(k):
        k.rcu_read_lock()
        k.dma_fence_get_rcu_safe(ptr, {stub: "got_stub", entry: "got_entry"})
        k.label("got_stub")
        k.rcu_read_unlock()
        k.dma_fence_wait(stub)
        if not bug:
            k.dma_fence_put(stub)
        k.goto("out")
        k.label("got_entry")
        k.rcu_read_unlock()
        k.dma_fence_wait(entry)
        k.dma_fence_put(entry)
        k.label("out")
        k.dma_fence_put(entry)

    @d.thread("signaller")
    def signaller(k):
        k.dma_fence_get(entry)
        k.ptr_xchg(ptr, entry)
        k.dma_fence_put(stub)
        k.dma_fence_signal(entry)
        k.dma_fence_put(entry)

    return d


def test_a_stub_fence_reference_must_still_be_dropped():
    assert found(stub_lookup(True)) == {"kref-leak": 5}


def test_a_lookup_that_may_return_the_signaled_stub_holds():
    holds(stub_lookup(False))


def test_names_spelled_alike_are_refused():
    d = Driver("alike")
    d.fence("a[0]", live=True, owners=(d.holder("h"),))
    with pytest.raises(ModelError, match="spelled too alike"):
        d.fence("a_0_", live=True, owners=("h",))


# ---- a release that leaves the free to later (TTM's delayed delete) ------------------------------------

def ttm_delayed_free(bug: str | None) -> Driver:
    """ttm_bo_release() with busy fences: the last put queues the delayed delete, which waits for the BO's
    fences, unlinks it from the LRU and frees it. Until then the BO is dying (refcount 0): an LRU walk
    that finds it may only kref_get_unless_zero() it (ttm_bo_get_unless_zero)."""
    d = Driver("ttm-delayed-delete")
    lru_lock = d.spinlock("bdev->lru_lock")
    bo = d.kref("bo", live=True, owners=("user",), frees=False,
                release=lambda k: k.queue_work("ttm_bo_delayed_delete"))
    resv = d.resv("bo->base._resv", of=bo)
    lru = d.slot("bo->lru", bo, kind="list", installed=True, holds_ref=False, lock=lru_lock)
    f = d.fence("job", live=True, owners=("user", "irq"))

    @d.thread("user", kernel="a job on the BO, then the last drm_gem_object_put()")
    def user(k):
        k.dma_resv_lock(resv)
        k.dma_resv_reserve_fences(resv)
        k.dma_resv_add_fence(resv, f, "WRITE")
        k.dma_resv_unlock(resv)
        k.dma_fence_put(f)
        k.kref_put(bo, "ttm_bo_put(bo)")

    @d.irq("irq")
    def irq(k):
        k.dma_fence_signal(f)
        k.dma_fence_put(f)

    @d.work("ttm_bo_delayed_delete")
    def delayed(k):
        k.dma_resv_wait_timeout(resv, "BOOKKEEP")
        k.spin_lock(lru_lock)
        k.unpublish(lru, text="list_del_init(&bo->lru)")
        k.spin_unlock(lru_lock)
        if bug != "never-freed":
            k.kfree(bo, "ttm_bo_put()'s final free")

    @d.thread("evict", kernel="ttm_lru_walk_for_evict()")
    def evict(k):
        k.spin_lock(lru_lock)
        k.peek(lru, fail="empty")
        if bug == "get-dying":
            k.kref_get(bo, "ttm_bo_get(bo)")
        else:
            k.kref_get_unless_zero(bo, fail="empty", text="ttm_bo_get_unless_zero(bo)")
        k.spin_unlock(lru_lock)
        k.use(bo, "evict the BO")
        k.kref_put(bo, "ttm_bo_put(bo)")
        k.ret()
        k.label("empty")
        k.spin_unlock(lru_lock)

    return d


@pytest.mark.parametrize("bug, prop, steps", [("get-dying", "kref-get-zero", 8), ("never-freed", "kref-leak", 19)])
def test_a_dying_object_is_neither_got_nor_left_unfreed(bug, prop, steps):
    assert found(ttm_delayed_free(bug))[prop] == steps


def test_a_delayed_delete_holds():
    holds(ttm_delayed_free(None))


def transfer_to_timeline(bug: bool) -> Driver:
    """drm_syncobj_transfer_to_timeline() before 721255b52700 'drm/syncobj: flatten dma_fence_chains on
    transfer': the source point's fence, itself a chain node, went into a new chain node of the destination
    timeline; the fix unwraps it to the plain fence first."""
    d = Driver("transfer")
    job = d.fence("job", live=True, owners=(d.holder("ring"),))
    src = d.fence_chain("src_point", job, owners=("transfer",))
    dst = d.fence_chain("dst_point", src if bug else job, created=False)

    @d.thread("transfer")
    def transfer(k):
        if not bug:
            k.dma_fence_get(job)  # dma_fence_unwrap_for_each(): the plain fence inside the source point
        k.dma_fence_chain_alloc(dst, fail="nomem")
        k.dma_fence_chain_init(dst)
        k.dma_fence_wait(dst)
        k.dma_fence_put(dst)
        if not bug:
            k.dma_fence_put(src)
        k.ret(0)
        k.label("nomem")
        k.dma_fence_put(job if not bug else src)
        if not bug:
            k.dma_fence_put(src)

    d.irq("ring_irq")(lambda k: k.dma_fence_signal(job))
    return d


def test_a_chain_node_built_around_a_chain_node_breaks_cont2():
    assert found(transfer_to_timeline(True)) == {"fence-container-nesting": 1}


def test_a_transfer_that_unwraps_the_point_holds():
    violated, _vacuous, _r, _m = run(transfer_to_timeline(False))
    assert violated == {}


# ---- an exporter's attachment ops see their attachment: per-attachment state -----------------------------

def heap_sync(bug: str | None) -> Driver:
    """4c68e499bb9d 'dma-buf: heaps: Skip sync if not mapped': system_heap's begin_cpu_access syncs the table
    of every attachment on its list, and one that is attached but not mapped (yet) has no DMA mapping. The map and
    unmap ops get their attachment (``map(k, attach)``) and keep ``a->mapped`` and ``a->table`` per
    attachment, as the heap does in attach->priv."""
    d = Driver("heap-sync")
    lock = d.mutex("buffer->lock")
    names = ("gpu_att", "cam_att")
    table = {n: d.dma_mapping(f"{n}->table") for n in names}
    mapped = {n: d.field(f"{n}->mapped", kernel="system_heap attachment->mapped") for n in names}

    def map_(k, a):
        k.dma_map_sgtable(table[a.name], "DMA_BIDIRECTIONAL")
        k.set(mapped[a.name], 1)

    def unmap(k, a):
        if bug is None:
            k.mutex_lock(lock)
        k.set(mapped[a.name], 0)
        k.dma_unmap_sgtable(table[a.name], "DMA_BIDIRECTIONAL")
        if bug is None:
            k.mutex_unlock(lock)

    def begin_cpu_access(k):
        k.mutex_lock(lock)
        for n in names:
            if bug != "sync-unmapped":
                k.goto_if(mapped[n].value == 0, f"skip_{n}", f"if (!{n}->mapped) continue")
            k.dma_sync_sgtable_for_cpu(table[n], "DMA_BIDIRECTIONAL")
            k.label(f"skip_{n}")
        k.mutex_unlock(lock)

    buf = d.dma_buf("heap_buf", live=True, owners=("gpu", "cam", "cpu"),
                    ops={"map": map_, "unmap": unmap, "begin_cpu_access": begin_cpu_access})
    atts = {n: d.attachment(n, buf, state="ATTACHED", owner=owner) for n, owner in zip(names, ("gpu", "cam"))}

    @d.thread("gpu")
    def gpu(k):
        k.dma_buf_map_attachment(atts["gpu_att"])
        k.dma_buf_unmap_attachment(atts["gpu_att"])
        k.dma_buf_detach(atts["gpu_att"])
        k.dma_buf_put(buf)

    @d.thread("cam")
    def cam(k):  # attached first, mapped later
        k.dma_buf_map_attachment(atts["cam_att"])
        k.dma_buf_unmap_attachment(atts["cam_att"])
        k.dma_buf_detach(atts["cam_att"])
        k.dma_buf_put(buf)

    @d.thread("cpu", kernel="DMA_BUF_IOCTL_SYNC")
    def cpu(k):
        k.dma_buf_begin_cpu_access(buf)
        k.dma_buf_end_cpu_access(buf)
        k.dma_buf_put(buf)

    return d


def test_syncing_the_table_of_an_attachment_never_mapped_is_a_dma_api_error():
    assert found(heap_sync("sync-unmapped")) == {"dma-api": 2}


def test_the_mapped_flag_written_outside_the_lock_that_reads_it_still_races():
    """With 4c68e499bb9d alone, unmap clears a->mapped and unmaps without buffer->lock, which
    begin_cpu_access (called without the resv since v6.2) holds while it tests the flag and syncs."""
    assert found(heap_sync("unmap-unlocked")) == {"dma-api": 12}


def test_a_heap_that_syncs_only_mapped_attachments_under_its_lock_holds():
    holds(heap_sync(None))


# ---- no option added here is inert ----------------------------------------------------------------------

def _opt_fence_wait(on):
    d = Driver("p")
    f = d.fence("f", live=True, owners=(d.holder("h"),))

    @d.thread("t")
    def t(k):
        k.dma_fence_wait(f, **({"timeout": "out"} if on else {}))
        k.label("out")

    d.thread("s")(lambda k: k.dma_fence_signal(f))
    return d


def _opt_completion(on):
    d = Driver("p")
    c = d.completion("c")

    @d.thread("t")
    def t(k):
        k.wait_for_completion(c, **({"timeout": "out"} if on else {}))
        k.label("out")

    d.thread("s")(lambda k: k.complete(c))
    return d


def _opt_wait_event(on, kw):
    d = Driver("p")
    wq, cond = d.waitqueue("wq"), d.field("cond")

    @d.thread("t")
    def t(k):
        k.wait_event(wq, cond.value == 1, **(kw if on else {}))
        k.label("out")

    @d.thread("s")
    def s(k):
        k.set(cond, 1)
        k.wake_up(wq)

    return d


def _opt_resv_wait(on, kw):
    d = Driver("p")
    r, f = d.resv("r"), d.fence("f", live=True, owners=("t",))

    @d.thread("t")
    def t(k):
        k.dma_resv_lock(r)
        k.dma_resv_reserve_fences(r)
        k.dma_resv_add_fence(r, f, "BOOKKEEP")
        k.dma_resv_unlock(r)
        k.dma_fence_put(f)

    @d.thread("w")
    def w(k):
        k.dma_resv_wait_timeout(r, **(kw if on else {}))
        k.label("out")

    d.irq("s")(lambda k: k.dma_fence_signal(f))
    return d


def _opt_pointer(on, what):
    d = Driver("p")
    a = d.fence("a", live=True, owners=("t",))
    p = d.pointer("p", (a,), **({"holds_ref": False} if on and what == "holds_ref" else {}))

    @d.thread("t")
    def t(k):
        k.ptr_xchg(p, a)
        k.ptr_switch(p, {a: "got"}, **({"null": "none"} if on and what == "null" else {}))
        k.label("got")
        k.label("none")
        k.dma_fence_signal(a)

    return d


def _opt_of(on, what):
    d = Driver("p")
    o, x = d.kref("o", live=True, owners=("t",)), d.kref("x", live=True, owners=("t",))
    kw = {"of": o} if on else {}
    holder = d.slot("s", x, kind="ptr", **kw) if what == "slot" else d.pointer("p", (x,), **kw)

    @d.thread("t")
    def t(k):
        k.publish(holder) if what == "slot" else k.ptr_xchg(holder, x)
        k.kref_put(o)

    return d


def _opt_resv_of(on):
    d = Driver("p")
    o = d.kref("o", live=True, owners=("t",))
    r = d.resv("r", **({"of": o} if on else {}))

    @d.thread("t")
    def t(k):
        k.kref_put(o)
        k.dma_resv_lock(r)
        k.dma_resv_unlock(r)

    return d


def _opt_timer(on):
    d = Driver("p")
    d.timer("tm", irqsafe=on)(lambda k: None)

    @d.irq("i")
    def i(k):
        k.mod_timer("tm")
        k.timer_delete_sync("tm")

    return d


def _opt_kzalloc_into(on):
    d = Driver("p")
    m = d.mem("m")
    o = d.kref("o", live=True, owners=("t",), release=lambda k: k.kfree(m))

    @d.thread("t")
    def t(k):
        k.kzalloc(m, **({"into": o} if on else {}))
        k.kref_put(o)

    return d


def _opt_begin_cpu_access(on):
    d = Driver("p")
    buf = d.dma_buf("b", live=True, owners=("t",))

    @d.thread("t")
    def t(k):
        k.dma_buf_begin_cpu_access(buf, **({"fail": "out"} if on else {}))
        k.dma_buf_end_cpu_access(buf)
        k.label("out")
        k.dma_buf_put(buf)

    return d


def _opt_mm(on):
    d = Driver("p")
    if on:
        d.mm()
    d.thread("t")(lambda k: k.copy_from_user())
    return d


def _opt_chain(on):
    d = Driver("p")
    f = d.fence("f", live=True, owners=("t",))
    c = d.fence_chain("c", f, created=not on, owners=() if on else ("t",))  # created: someone holds it

    @d.thread("t")
    def t(k):
        if on:
            k.dma_fence_chain_alloc(c)
            k.dma_fence_chain_init(c)
            k.dma_fence_signal(f)
            k.dma_fence_put(c)
        else:
            k.dma_fence_signal(f)

    return d


def _opt_dma_access(on):
    d = Driver("p")
    buf = d.dma_buf("b", live=True, owners=("t",), dynamic=True)
    f = d.fence("f", live=True, owners=("t",))
    att = d.attachment("att", buf, dynamic=True, move_notify=lambda k: None, state="MAPPED", owner="t")

    @d.thread("t")
    def t(k):
        k.dma_access(att, **({"fence": f} if on else {}))
        k.dma_fence_signal(f)

    return d


def _opt_frees(on):
    d = Driver("p")
    o = d.kref("o", live=True, owners=("t",), frees=not on)
    d.thread("t")(lambda k: k.kref_put(o))
    return d


def _opt_fence_signaled(on):
    d = Driver("p")
    f = d.fence("f", live=True, owners=(d.holder("h"),), signaled=on)
    d.thread("t")(lambda k: k.dma_fence_wait(f))
    return d


def _opt_dma_buf_resv(on):
    d = Driver("p")
    obj = d.kref("obj", live=True, owners=("t",))
    r = d.resv("obj.resv", of=obj)
    buf = d.dma_buf("b", live=True, owners=("t",), **({"resv": r} if on else {}))

    @d.thread("t")
    def t(k):
        k.kref_put(obj)
        k.dma_resv_lock(buf.resv)
        k.dma_resv_unlock(buf.resv)
        k.dma_buf_put(buf)

    return d


OPTIONS = [
    ("dma_fence_wait timeout", _opt_fence_wait),
    ("wait_for_completion timeout", _opt_completion),
    ("wait_event timeout", lambda on: _opt_wait_event(on, {"timeout": "out"})),
    ("wait_event intr", lambda on: _opt_wait_event(on, {"intr": True, "fail": "out"})),
    ("dma_resv_wait_timeout usage", lambda on: _opt_resv_wait(on, {"usage": "WRITE"})),
    ("dma_resv_wait_timeout timeout", lambda on: _opt_resv_wait(on, {"timeout": "out"})),
    ("pointer holds_ref", lambda on: _opt_pointer(on, "holds_ref")),
    ("ptr_switch null", lambda on: _opt_pointer(on, "null")),
    ("slot of", lambda on: _opt_of(on, "slot")),
    ("pointer of", lambda on: _opt_of(on, "pointer")),
    ("resv of", _opt_resv_of),
    ("timer irqsafe", _opt_timer),
    ("kzalloc into", _opt_kzalloc_into),
    ("begin_cpu_access fail", _opt_begin_cpu_access),
    ("mm", _opt_mm),
    ("fence context", lambda on: resv_reader(False, same_context=on)),
    ("fence_chain created", lambda on: _opt_chain(on)),
    ("dma_fence_chain_alloc fail", lambda on: add_point(None, alloc_fails=on)),
    ("dma_access fence", lambda on: _opt_dma_access(on)),
    ("dma_buf resv", lambda on: _opt_dma_buf_resv(on)),
    ("fence signaled", lambda on: _opt_fence_signaled(on)),
    ("kref frees", lambda on: _opt_frees(on)),
]


@pytest.mark.parametrize("what,make", OPTIONS, ids=[o[0] for o in OPTIONS])
def test_no_option_added_here_is_inert(what, make):
    from tests.test_driver_programs import fingerprint

    assert fingerprint(make(False)) != fingerprint(make(True)), what


def test_a_fail_label_nothing_can_reach_is_refused():
    d = Driver("dead-fail")
    buf = d.dma_buf("b", live=True, owners=("t",), ops={"vmap": lambda k: None})
    m = d.mem("m")

    @d.thread("t")
    def t(k):
        k.dma_buf_vmap(buf, fail="out")
        k.label("out")
        k.dma_buf_put(buf)

    with pytest.raises(ModelError, match="cannot fail: the exporter's vmap op returns no error"):
        d.build()
    d2 = Driver("dead-call")
    m = d2.mem("m")

    @d2.thread("t")
    def t2(k):
        k.call(lambda k: k.kzalloc(m), fail="err")
        k.label("err")

    with pytest.raises(ModelError, match="returns no error"):
        d2.build()


# ---- a program file as a user writes it -------------------------------------------------------------

def test_a_program_file_imports_a_module_beside_it(tmp_path):
    from dmabuf_check.model.design_loader import load_design_file

    (tmp_path / "pair_common.py").write_text(
        "from dmabuf_check.model.driver import Driver\n"
        "def build(bug):\n"
        "    return Driver('pair-bug' if bug else 'pair')\n")
    (tmp_path / "bug.py").write_text("from pair_common import build\nDESIGN = build(True)\n")
    d, _bug, _mod = load_design_file(str(tmp_path / "bug.py"))
    assert d.name == "pair-bug"
    assert str(tmp_path) not in __import__("sys").path  # only while the file runs


def test_a_call_with_wrong_arguments_names_the_call_and_the_line():
    d = Driver("bad-call")
    f = d.fence("f", live=True, owners=("t",))

    @d.thread("t")
    def t(k):
        k.dma_fence_signal(f, "signal it", "and more")  # one string is the text; a second is one too many

    with pytest.raises(ModelError, match=r"thread t: k.dma_fence_signal\(\) at .*test_driver_reach.py:\d+: TypeError: "
                       r"too many positional arguments \(a call's text goes as text=...\)"):
        d.build()
