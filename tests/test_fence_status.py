"""dma_fence_get_status and dma_fence_enable_sw_signaling as kernel calls of driver programs."""

from __future__ import annotations

from dmabuf_check.model.driver import Driver

from tests.test_driver_programs import holds, run


def status_before_scanout(checks_pending: bool) -> Driver:
    """A commit path that only tests ``dma_fence_get_status(f) < 0`` treats a pending render fence as done
    and scans out a buffer the GPU is still writing; the fixed path waits while the status is 0."""
    d = Driver("get-status")
    fb = d.kref("fb", live=True, owners=("commit",))
    f = d.fence("render", live=True, owners=("gpu", "commit"))
    d.gpu("gpu", signals=f, accesses=(fb,))

    @d.thread("commit")
    def commit(k):
        k.dma_fence_get_status(f, pending="busy" if checks_pending else None, error="err")
        k.goto("scanout")
        k.label("busy")
        k.dma_fence_wait(f)
        k.label("scanout")
        k.device_access(fb, after=(f,))
        k.label("err")
        k.dma_fence_put(f)
        k.kref_put(fb)

    return d


def test_a_pending_fence_read_as_done_is_dma_before_the_fence():
    violated, _, _, _ = run(status_before_scanout(checks_pending=False))
    # at once: the device reads fb before its fence; later the commit also drops fb under the GPU
    assert violated == {"dma-before-fence": 1, "dma-after-free": 4}, violated


def test_waiting_while_the_status_is_pending_holds():
    assert holds(status_before_scanout(checks_pending=True)) == 22


def error_status(bug: bool) -> Driver:
    """The error is set before the fence signals, so a reader sees < 0 only after it signaled; setting it
    after the signal is the FENCE-2 WARN."""
    d = Driver("status-error")
    f = d.fence("job", live=True, owners=("sched", "reader"))
    seen = d.field("saw_error")

    @d.thread("sched")
    def sched(k):
        if bug:
            k.dma_fence_signal(f)
            k.dma_fence_set_error(f, "-ETIME")
        else:
            k.dma_fence_set_error(f, "-ETIME")
            k.dma_fence_signal(f)
        k.dma_fence_put(f)

    @d.thread("reader")
    def reader(k):
        k.dma_fence_wait(f)
        k.dma_fence_get_status(f, error="bad")
        k.goto("out")
        k.label("bad")
        k.set(seen, 1)
        k.label("out")
        k.dma_fence_put(f)

    return d


def test_the_error_branch_is_taken_once_the_error_is_set_before_signalling():
    assert holds(error_status(bug=False)) == 14  # no vacuous action: the error branch is reached


def test_an_error_set_after_the_signal_is_found():
    violated, _, _, _ = run(error_status(bug=True))
    assert violated == {"fence-error-after-signal": 2}, violated


def get_status_in_own_callback() -> Driver:
    """The callback runs under the fence lock (dma_fence_signal); dma_fence_get_status takes that lock
    again: a recursive spinlock, the self-deadlock lockdep reports."""
    d = Driver("status-in-cb")
    f = d.fence("f", live=True, owners=("t",))

    def cb(k):
        k.dma_fence_get_status(f)

    @d.thread("t")
    def t(k):
        k.dma_fence_add_callback(f, cb, name="cb")
        k.dma_fence_signal(f)
        k.dma_fence_put(f)

    return d


def test_get_status_inside_the_fences_own_callback_deadlocks():
    violated, _, _, _ = run(get_status_in_own_callback())
    assert violated == {"no-fence-wait-deadlock": 4, "no-stuck-state": 4}, violated


def sw_signaling(under_lock: bool) -> Driver:
    """enable_sw_signaling runs the fence's enable_signaling op at most once (it arms the ring's
    interrupt), under the fence lock: a caller already holding that lock spins on itself."""
    d = Driver("sw-signaling")
    lk = d.spinlock("fence_lock")
    armed = d.field("irq_armed", max_value=2)

    def enable(k):
        k.inc(armed, text="arm the ring's user interrupt")

    f = d.fence("f", live=True, owners=("t", "t2", "irq"), lock=lk, enable_signaling=enable)
    d.invariant(lambda: armed.v <= 1, "enable_signaling ran at most once")

    @d.thread("t")
    def t(k):
        if under_lock:
            k.spin_lock_irqsave(lk)
        k.dma_fence_enable_sw_signaling(f)
        if under_lock:
            k.spin_unlock_irqrestore(lk)
        k.dma_fence_put(f)

    @d.thread("t2")
    def t2(k):  # whichever of the two comes first while the fence is pending runs the op
        k.dma_fence_enable_sw_signaling(f)
        k.dma_fence_put(f)

    @d.thread("irq")
    def irq(k):
        k.dma_fence_signal(f)
        k.dma_fence_put(f)

    return d


def test_enable_sw_signaling_runs_the_op_at_most_once():
    assert holds(sw_signaling(under_lock=False)) == 108


def test_enable_sw_signaling_under_the_fence_lock_spins_on_itself():
    violated, _, _, _ = run(sw_signaling(under_lock=True))
    assert violated == {"no-fence-wait-deadlock": 1, "no-stuck-state": 1}, violated


def test_both_calls_change_the_model():
    from tests.test_driver_programs import fingerprint

    assert fingerprint(status_before_scanout(True)) != fingerprint(status_before_scanout(False))
    assert fingerprint(sw_signaling(True)) != fingerprint(sw_signaling(False))


def test_the_error_label_changes_the_model():
    from tests.test_driver_programs import fingerprint

    def make(with_error: bool) -> Driver:
        d = Driver("status-label")
        f = d.fence("f", live=True, owners=("sched", "reader"))

        @d.thread("sched")
        def sched(k):
            k.dma_fence_set_error(f, "-EIO")
            k.dma_fence_signal(f)
            k.dma_fence_put(f)

        @d.thread("reader")
        def reader(k):
            k.dma_fence_get_status(f, error="bad" if with_error else None)
            k.label("bad")
            k.dma_fence_put(f)

        return d

    assert fingerprint(make(True)) != fingerprint(make(False))
