"""Driver programs: each kernel-object rule is found where a program breaks it and holds where it does not.

Every concept gets a buggy and a fixed program of its own: the buggy one is reported by the rule's
property (bound automatically, never written for the test) with its exact shortest length, the fixed
one holds every property and every action fires. The seeded-bug library of real kernel bugs is checked
the same way against its fixed programs.
"""

from __future__ import annotations

import importlib
import re

import pytest
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.model.designs import PROGRAMS
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.base import LIVENESS
from dmabuf_check.properties.kernel_objects import BY_ID, for_driver

from dmabuf_check.registry import bugs, build, builtin


def safety(m, info):
    return [p for p in for_driver(m, info) if p.kind != LIVENESS]  # liveness is checked on the state graph


def run(d: Driver, kernel: str | None = None):
    m, info = d.build(kernel)
    r = explore(m, safety(m, info), symmetry=False, stop_at_first=False)
    assert r.complete
    violated = {v.property: v.counterexample.length for v in r.violated}
    dead = info.may_be_dead(r.vacuous)
    vacuous = [a for a in r.vacuous if a not in dead]
    return violated, vacuous, r.states, m


def holds(d: Driver, kernel: str | None = None) -> int:
    violated, vacuous, states, _m = run(d, kernel)
    assert violated == {}
    assert vacuous == []
    return states


# ---- one buggy and one fixed program per concept ------------------------------------------------

def lookup_race(bug: bool) -> Driver:
    """A lookup under a lock racing with the last put, whose release unlinks under that lock."""
    d = Driver("lookup-race")
    lk = d.mutex("list_lock")

    def release(k):
        k.mutex_lock(lk)
        k.unpublish(lst, fail="gone")
        k.label("gone")
        k.mutex_unlock(lk)

    obj = d.kref("obj", live=True, owners=("owner",), release=release)
    lst = d.slot("list", obj, kind="list", installed=True, holds_ref=False)

    @d.thread("owner")
    def owner(k):
        k.kref_put(obj)

    @d.thread("finder")
    def finder(k):
        k.mutex_lock(lk)
        k.peek(lst, fail="out")
        if bug:
            k.kref_get(obj)
        else:
            k.kref_get_unless_zero(obj, fail="out")
        k.mutex_unlock(lk)
        k.use(obj, "obj->field")
        k.kref_put(obj)
        k.ret()
        k.label("out")
        k.mutex_unlock(lk)

    return d


def test_get_on_zero_is_reported_and_get_unless_zero_under_the_lookup_lock_holds():
    violated, _vac, _s, _m = run(lookup_race(True))
    assert violated["kref-get-zero"] == 3  # owner's last put, then finder locks, finds it: about to kref_get
    assert holds(lookup_race(False)) == 31


def double_put(bug: bool) -> Driver:
    d = Driver("double-put")
    obj = d.kref("obj", live=True, owners=("t", "other"))

    @d.thread("t")
    def t(k):
        k.kref_put(obj)
        if bug:
            k.kref_put(obj)

    @d.thread("other")
    def other(k):
        k.use(obj)
        k.kref_put(obj)

    return d


def test_a_second_put_is_a_put_without_reference_then_an_underflow():
    violated, *_ = run(double_put(True))
    assert violated["kref-put-noref"] == 1
    assert violated["kref-underflow"] == 3  # t's two puts free it under other, whose put then finds 0
    assert violated["use-after-free"] == 2
    assert holds(double_put(False)) == 6


def alloc_paths(bug: str | None) -> Driver:
    d = Driver("alloc-paths")
    buf = d.mem("buf")

    @d.thread("ioctl")
    def ioctl(k):
        k.kzalloc(buf, fail="enomem")
        k.may_goto("einval", "if (args->flags & ~VALID)")
        k.use(buf, "fill buf")
        k.kfree(buf)
        k.ret(0)
        k.label("einval")
        if bug != "leak":
            k.kfree(buf)
        if bug == "double":
            k.kfree(buf)
        k.label("enomem")

    return d


def test_error_paths_leak_or_double_free():
    assert run(alloc_paths("leak"))[0] == {"kref-leak": 2}
    assert run(alloc_paths("double"))[0] == {"double-free": 3}
    assert holds(alloc_paths(None)) == 7


def atomic_paths(bug: str | None) -> Driver:
    d = Driver("atomic")
    spin = d.spinlock("dev->lock")
    mtx = d.mutex("dev->mutex")
    f = d.fence("f", live=True, owners=(d.holder("ring"),))
    g = d.fence("g", live=True, owners=(d.holder("ring2"),))
    mem = d.mem("entry")

    @d.thread("ioctl")
    def ioctl(k):
        if bug == "mutex-under-spin":
            k.spin_lock(spin)
            k.mutex_lock(mtx)
            k.mutex_unlock(mtx)
            k.spin_unlock(spin)
        else:
            k.mutex_lock(mtx)
            k.spin_lock(spin)
            k.spin_unlock(spin)
            k.mutex_unlock(mtx)

    def cb(k):
        if bug == "wait-in-callback":
            k.dma_fence_wait(g)

    @d.thread("waiter")
    def waiter(k):
        k.dma_fence_add_callback(f, cb, fail="done")
        k.label("done")

    @d.irq("irq")
    def irq(k):
        k.kzalloc(mem, "GFP_KERNEL" if bug == "gfp-kernel-in-irq" else "GFP_ATOMIC", fail="out")
        k.kfree(mem)
        k.label("out")
        k.dma_fence_signal(g)
        k.dma_fence_signal(f)

    return d


@pytest.mark.parametrize("bug,length", [("mutex-under-spin", 1), ("gfp-kernel-in-irq", 0), ("wait-in-callback", 7)])
def test_sleeping_calls_in_atomic_context(bug, length):
    violated, *_ = run(atomic_paths(bug))
    assert violated["sleep-in-atomic"] == length


def test_the_same_calls_in_process_context_hold():
    assert holds(atomic_paths(None)) == 150


def lock_balance(bug: str | None) -> Driver:
    d = Driver("lock-balance")
    lk = d.mutex("lk")
    other = d.mutex("other")

    @d.thread("t")
    def t(k):
        k.mutex_lock(lk)
        k.may_goto("err", "if (err)")
        k.lockdep_assert_held(other if bug == "assert" else lk)
        k.mutex_unlock(lk)
        k.ret(0)
        k.label("err")
        if bug == "unlock-other":
            k.mutex_unlock(other)
        if bug != "keep":
            k.mutex_unlock(lk)

    return d


@pytest.mark.parametrize("bug,prop,length", [("keep", "lock-held-at-exit", 2), ("unlock-other", "unlock-not-held", 2),
                                             ("assert", "lockdep-assert-held", 2)])
def test_lock_balance_rules(bug, prop, length):
    assert run(lock_balance(bug))[0][prop] == length


def test_balanced_locking_holds():
    assert holds(lock_balance(None)) == 6


def nested_irq(bug: bool) -> Driver:
    d = Driver("nested-irq")
    outer = d.spinlock("list_lock")
    inner = d.spinlock("obj->lock")

    @d.thread("debugfs")
    def debugfs(k):
        k.spin_lock_irq(outer)
        if bug:  # spin_unlock_irq re-enables interrupts while list_lock is still held
            k.spin_lock_irq(inner)
            k.spin_unlock_irq(inner)
        else:
            k.spin_lock(inner)
            k.spin_unlock(inner)
        k.spin_unlock_irq(outer)

    @d.irq("irq")
    def irq(k):
        k.spin_lock(outer)
        k.spin_unlock(outer)
        k.spin_lock(inner)
        k.spin_unlock(inner)

    return d


def test_interrupts_enabled_under_an_irq_safe_lock_is_inconsistent_lock_state():
    assert run(nested_irq(True))[0]["irq-inconsistent-lock"] == 5  # marked at the inner unlock, seen in the IRQ
    assert holds(nested_irq(False)) == 21


def _lock_report(d: Driver):
    from dmabuf_check.checker.locks.order import analyze
    from dmabuf_check.checker.locks.rules import load

    m, _info = d.build(None)
    return analyze(m, [], load(None, m))


def test_lock_report_prints_lockdeps_usage_bits_and_inconsistent_lock_state():
    # kernel/locking/lockdep.c: mark_usage() records USED_IN_HARDIRQ in IRQ context and ENABLED_HARDIRQ when
    # taken with interrupts on; mark_held_locks() marks the held locks when spin_unlock_irq() turns them back
    # on; print_usage_bug() is "inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage."; get_usage_chars()
    # prints '.', '-' (in IRQ), '+' (IRQs on), '?' (both) per state
    from dmabuf_check.traces import lockdep

    rep = _lock_report(nested_irq(True))
    assert not rep.clean
    [u] = rep.inconsistent
    assert (u.lock, u.state, u.first) == ("list_lock", "HARDIRQ", "IN-HARDIRQ-W")
    assert u.registered["IN-HARDIRQ-W"][1].length == 0 and u.both.length == 5
    assert rep.usage == {"list_lock": "{?.+.}-{2:2}", "obj->lock": "{-...}-{2:2}"}
    text = lockdep.render(rep)
    assert "WARNING: inconsistent lock state" in text
    assert "inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage." in text
    assert "debugfs/debugfs_2 takes:\n (list_lock){?.+.}-{2:2}, at: debugfs_2" in text
    assert "  <Interrupt>\n    lock(list_lock);" in text
    assert text.rstrip().endswith("1 inconsistent lock state: 1 edges over 2 locks (21 states explored)")
    # fixed: interrupts stay off while list_lock is held; both locks only ever taken with them off
    rep = _lock_report(nested_irq(False))
    assert rep.clean and rep.inconsistent == []
    assert rep.usage == {"list_lock": "{-...}-{2:2}", "obj->lock": "{-...}-{2:2}"}


def test_lock_report_usage_bits_for_softirq_and_sleeping_locks():
    def driver(bh: bool) -> Driver:
        d = Driver("bh-lock")
        lk = d.spinlock("queue_lock")
        mtx = d.mutex("config_lock")

        @d.thread("ioctl")
        def ioctl(k):
            k.mutex_lock(mtx)
            (k.spin_lock_bh if bh else k.spin_lock)(lk)
            (k.spin_unlock_bh if bh else k.spin_unlock)(lk)
            k.mutex_unlock(mtx)

        @d.thread("tasklet", context="softirq")
        def tasklet(k):
            k.spin_lock(lk)
            k.spin_unlock(lk)
        return d

    rep = _lock_report(driver(False))
    [u] = rep.inconsistent
    assert u.state == "SOFTIRQ" and {u.first} < {"IN-SOFTIRQ-W", "SOFTIRQ-ON-W"}
    # taken in softirq context (which runs with hard interrupts on) and in process context with both on
    assert rep.usage == {"queue_lock": "{+.?.}-{2:2}", "config_lock": "{+.+.}-{3:3}"}
    rep = _lock_report(driver(True))  # spin_lock_bh: softirqs off in process context
    assert rep.inconsistent == [] and rep.usage["queue_lock"] == "{+.-.}-{2:2}"


def fence_rules(bug: str | None) -> Driver:
    d = Driver("fence-rules")
    f = d.fence("job")

    def done(k):
        pass

    @d.thread("submit")
    def submit(k):
        k.dma_fence_init(f)
        k.dma_fence_add_callback(f, done, fail="signaled")
        if bug == "cb-twice":
            k.dma_fence_add_callback(f, done, fail="signaled")
        k.label("signaled")
        k.may_goto("error", "if (ring full)")
        k.dma_fence_signal(f)
        if bug == "error-after-signal":
            k.dma_fence_set_error(f, "-ETIMEDOUT")
        k.dma_fence_put(f)
        k.ret(0)
        k.label("error")
        if bug != "no-signal-on-error":
            k.dma_fence_set_error(f, "-ENOMEM")
            k.dma_fence_signal(f)
        k.dma_fence_put(f)

    return d


@pytest.mark.parametrize("bug,prop,length", [("cb-twice", "fence-cb-twice", 2),
                                             ("error-after-signal", "fence-error-after-signal", 7),
                                             ("no-signal-on-error", "fence-release-pending-cb", 3)])
def test_fence_rules(bug, prop, length):
    assert run(fence_rules(bug))[0][prop] == length


def test_fence_rules_hold_when_every_path_signals_once():
    assert holds(fence_rules(None)) == 16


def unsignaled_at_end(bug: bool) -> Driver:
    d = Driver("unsignaled")
    f = d.fence("out_fence", live=True, owners=(d.holder("sync_file"),))

    @d.thread("submit")
    def submit(k):
        k.may_goto("err", "if (drm_sched_job_arm() fails)")
        k.dma_fence_signal(f)
        k.ret(0)
        k.label("err")
        if not bug:
            k.dma_fence_set_error(f, "-ECANCELED")
            k.dma_fence_signal(f)

    return d


def test_a_published_fence_left_unsignaled_on_an_error_path():
    assert run(unsignaled_at_end(True))[0] == {"fence-signals": 1}
    assert holds(unsignaled_at_end(False)) == 8


def resv_rules(bug: str | None) -> Driver:
    d = Driver("resv-rules")
    r = d.resv("bo->resv")
    f = d.fence("job", live=True, owners=("submit",))

    @d.thread("submit")
    def submit(k):
        if bug != "unlocked":
            k.dma_resv_lock(r)
        if bug not in ("no-reserve", "reserve-then-unlock"):
            k.dma_resv_reserve_fences(r, fail="unlock")
        if bug == "reserve-then-unlock":
            k.dma_resv_reserve_fences(r, fail="unlock")
            k.dma_resv_unlock(r)
            k.dma_resv_lock(r)
        k.dma_resv_add_fence(r, f, "WRITE")
        k.label("unlock")
        if bug != "unlocked":
            k.dma_resv_unlock(r)
        k.dma_fence_signal(f)
        k.dma_fence_put(f)

    @d.thread("waiter")
    def waiter(k):
        k.dma_resv_wait_timeout(r)

    return d


@pytest.mark.parametrize("bug,prop,length", [("no-reserve", "resv-reserve-before-add", 1),
                                             ("reserve-then-unlock", "resv-reserve-before-add", 4),
                                             ("unlocked", "resv-held", 0)])
def test_resv_rules(bug, prop, length):
    assert run(resv_rules(bug))[0][prop] == length


def test_reserve_and_add_in_one_lock_hold_holds():
    assert holds(resv_rules(None)) == 26


def importer(bug: str | None) -> Driver:
    d = Driver("importer")
    buf = d.dma_buf("buf", live=True, owners=("imp", d.holder("exporter")))
    att = d.attachment("att", buf)

    @d.thread("imp")
    def imp(k):
        k.dma_buf_attach(att, fail="out")
        if bug == "map-before-attach":
            k.dma_buf_detach(att)
            k.dma_buf_map_attachment(att)
            k.ret()
        k.dma_buf_map_attachment(att, fail="detach")
        if bug == "detach-mapped":
            k.dma_buf_detach(att)
            k.ret()
        if bug == "put-attached":
            k.dma_buf_put(buf)
            k.ret()
        k.dma_buf_unmap_attachment(att)
        k.label("detach")
        k.dma_buf_detach(att)
        k.label("out")
        k.dma_buf_put(buf)

    return d


@pytest.mark.parametrize("bug,prop,length", [("map-before-attach", "map-after-attach", 7),
                                             ("detach-mapped", "detach-after-unmap", 6),
                                             ("put-attached", "attach-holds-ref", 7)])
def test_attachment_bracketing(bug, prop, length):
    assert run(importer(bug))[0][prop] == length


def test_the_importer_protocol_holds():
    assert holds(importer(None)) == 15


def signalling_path(bug: str | None) -> Driver:
    d = Driver("signalling")
    r = d.resv("bo->resv")
    f = d.fence("hw", live=True, owners=(d.holder("ring"),))
    g = d.fence("other", live=True, owners=(d.holder("ring2"),))
    mem = d.mem("tmp")

    @d.thread("done_work")
    def done_work(k):
        k.dma_fence_begin_signalling()
        if bug == "alloc":
            k.kzalloc(mem, "GFP_KERNEL", fail="sig")
            k.kfree(mem)
        if bug == "wait":
            k.dma_fence_wait(g)
        if bug == "resv":
            k.dma_resv_lock(r)
            k.dma_resv_unlock(r)
        k.label("sig")
        k.dma_fence_signal(f)
        k.dma_fence_end_signalling()

    @d.thread("other_ring")
    def other_ring(k):
        k.dma_fence_signal(g)

    return d


@pytest.mark.parametrize("bug,prop", [("alloc", "sig-no-alloc"), ("wait", "sig-no-fence-wait"),
                                      ("resv", "sig-no-resv-lock")])
def test_signalling_sections(bug, prop):
    assert run(signalling_path(bug))[0][prop] == 1


def test_signalling_section_rules_hold_for_every_generation():
    for kernel in ("v5.7", "v6.16"):  # tagged by the builder, so they hold before v5.9's annotations too
        assert holds(signalling_path(None), kernel) == 15
    _v, _vac, _s, m = run(signalling_path("wait"), "v5.7")
    assert "dma_fence_map" not in {a for act in m.actions for a in act.acquires}  # no lockdep map before v5.9
    assert run(signalling_path("wait"), "v5.7")[0]["sig-no-fence-wait"] == 1


def abba(bug: bool) -> Driver:
    d = Driver("abba")
    a = d.mutex("a")
    b = d.mutex("b")

    @d.thread("t1")
    def t1(k):
        k.mutex_lock(a)
        k.mutex_lock(b)
        k.mutex_unlock(b)
        k.mutex_unlock(a)

    @d.thread("t2")
    def t2(k):
        first, second = (b, a) if bug else (a, b)
        k.mutex_lock(first)
        k.mutex_lock(second)
        k.mutex_unlock(second)
        k.mutex_unlock(first)

    return d


def test_abba_is_a_wait_for_cycle_and_a_lockdep_cycle():
    from dmabuf_check.checker.locks.order import analyze
    from dmabuf_check.checker.locks.rules import RuleSet

    violated, *_ = run(abba(True))
    assert violated["no-fence-wait-deadlock"] == 2 and violated["no-stuck-state"] == 2
    m, _info = abba(True).build()
    report = analyze(m, [], RuleSet())
    assert [sorted(e.src for e in c.edges) for c in report.cycles] == [["a", "b"]]
    assert holds(abba(False)) == 16
    m, _info = abba(False).build()
    assert analyze(m, [], RuleSet()).cycles == []


# ---- the seeded-bug library ----------------------------------------------------------------------

PROGRAM_BUGS = [(name, ref) for name, ref in bugs().items() if ref.is_program]


def test_the_library_has_the_programs_and_their_bugs():
    assert len(PROGRAM_BUGS) == 70  # 69 distinct kernel fixes, and one design-library bug also written as code paths
    assert {ref.bug.base for _n, ref in PROGRAM_BUGS} == {builtin()[n].name for n in builtin() if builtin()[n].is_program}
    for _name, ref in PROGRAM_BUGS:
        assert ref.bug.property in BY_ID
        assert any(c.isdigit() for c in ref.bug.source[:12]), f"{ref.name} names no commit"


@pytest.mark.parametrize("module", PROGRAMS)
def test_every_fixed_program_holds_with_no_vacuous_action(module):
    mod = importlib.import_module(f"dmabuf_check.model.designs.programs.{module}")
    holds(mod.DESIGN)


# shortest counterexample of each seeded bug, by the property its BUG names (measured; pinned)
LENGTHS = {
    "bug-dma-buf-fd-trace": 9, "bug-gntdev-exp-after-fd": 8, "bug-habanalabs-export-after-fd": 8,
    "bug-fastrpc-put-after-fd": 6, "bug-udmabuf-fd-fail-leak": 6, "bug-vfio-fd-fail-double-free": 8,
    "bug-gem-change-handle-race": 1, "bug-prime-mmap-ttm-uaf": 0, "bug-shmem-mmap-errant-put": 1,
    "bug-shmem-mmap-dmabuf-errant-put": 1, "bug-dmabuf-release-in-fops": 6, "bug-dmabuf-debugfs-inode-uaf": 5,
    "bug-dmabuf-release-null-fsdata": 3, "bug-dmabuf-export-init-order": 5, "bug-amdkfd-put-before-wait": 4,
    "bug-sched-add-deps-double-put": 3, "bug-amdgpu-fence-to-handle-leak": 2, "bug-syncobj-find-fence-leak": 2,
    "bug-sync-file-merge-leak": 3, "bug-fence-unwrap-merge-leak": 3, "bug-sched-kill-enoent-leak": 6,
    "bug-sched-kill-cb-deadlock": 5, "bug-sw-sync-recursive-signal": 6, "bug-panthor-fence-lock-irq": 3,
    "bug-fence-array-lock-inversion": 13, "bug-ttm-transfer-resv-leak": 2, "bug-i915-fd-install-before-use": 8,
    "bug-msm-submit-fence-leak": 2, "bug-syncobj-find-fence-uaf": 8, "bug-sched-kill-no-ref": 10,
    "bug-vmwgfx-release-under-fman": 6, "bug-pvr-release-takes-queue-lock": 5, "bug-sw-sync-release-unlocked": 5,
    "bug-xe-attach-before-init": 3, "bug-xe-bo-retry-uaf": 4, "bug-nouveau-import-double-free": 5,
    "bug-umem-double-unpin": 7, "bug-nouveau-prime-underflow": 2, "bug-vgem-release-timer-sync-irq": 3,
    "bug-fence-array-signaled-no-progress": 5,  # a fair lasso: the poller spins forever
    "bug-heap-importer-put-while-attached": 15,
    "bug-udmabuf-seal-check-race": 5, "bug-dma-heap-add-race": 13, "bug-sched-entity-idle-complete-once": 16,
    "bug-fence-timeline-name-null-ops": 5, "bug-fence-tracepoint-null-ops": 4, "bug-resv-get-fences-realloc-leak": 4,
    "bug-gem-fb-no-handle-ref": 3, "bug-prime-uses-obj-dma-buf": 3, "bug-udmabuf-sg-err-ptr": 7, "bug-poll-cb-no-file-ref": 23,
    "bug-fastrpc-attach-leak": 10, "bug-virtio-prepare-fb-pin-leak": 13, "bug-fastrpc-map-err-unmap": 27,
    "bug-userq-cancel-hang-detect-locked": 11, "bug-amdkfd-svm-validate-reserves-bo": 9,
    "bug-i915-sw-fence-del-timer-in-callback": 7,
    "bug-i915-fence-wait-int-ret": 1, "bug-amdgpu-ctx-wait-no-ref": 9, "bug-dmabuf-dname-mutex": 1,
    "bug-dma-buf-stats-before-list": 6, "bug-sched-implicit-deps-no-get": 2, "bug-guc-wq-lock-irq-unsafe": 7,
    "bug-syncobj-eventfd-leak": 5, "bug-sched-kill-jobs-irq-work": 12, "bug-virtio-gem-create-uaf": 19,
    "bug-cma-heap-vmap-cnt-unlocked": 17, "bug-gem-lock-reservations-no-fini": 4,
    # stuck states: every other thread of the program has returned too (the userq paths are part of the trace)
    "bug-sw-sync-dying-timeline": 25, "bug-syncobj-wait-available-no-wait": 32,
}


@pytest.mark.parametrize("name", sorted(LENGTHS))
def test_each_seeded_program_bug_is_found_by_its_property(name):
    from dmabuf_check.checker.api import check_model
    from dmabuf_check.checker.explicit.search import Limits

    ref = bugs()[name]
    m, _info, props = build(ref)
    r = check_model(m, [p for p in props if p.id == ref.bug.property], symmetry=False, limits=Limits())
    (v,) = r.violated
    assert v.counterexample.length == LENGTHS[name]


def test_the_fixed_programs_hold_under_liveness_too():
    from dmabuf_check.checker.api import check_model
    from dmabuf_check.checker.explicit.search import Limits

    for module in ("fence_array_poll", "vgem_fence", "sched_fence_cb"):
        mod = importlib.import_module(f"dmabuf_check.model.designs.programs.{module}")
        m, info = mod.DESIGN.build()
        live = [p for p in for_driver(m, info) if p.kind == LIVENESS]
        assert live and check_model(m, live, symmetry=False, limits=Limits()).ok, module


# ---- no parameter is inert -------------------------------------------------------------------------

def fingerprint(d: Driver) -> tuple:
    """The model's shape and what exploring it finds: a parameter that changes neither is inert."""
    from dmabuf_check.checker.z3.model_text import show_expr

    m, info = d.build()
    r = explore(m, safety(m, info), symmetry=False, stop_at_first=False)
    return (tuple((a.name, a.call, a.acquires, a.holds, show_expr(a.guard),
                   tuple(show_expr(e.value) for e in a.effects if hasattr(e, "value"))) for a in m.actions),
            tuple(v.name for v in m.variables), tuple(sorted((k, len(v)) for k, v in info.checks.items())),
            r.states, r.transitions, tuple(sorted(v.property for v in r.violated)))


def one_call(call, objects=lambda d: {}):
    def make(**kw) -> Driver:
        d = Driver("probe")
        objs = objects(d)

        @d.thread("t", context=kw.pop("context", "process"))
        def t(k):
            call(k, objs, **kw)
            k.use(objs["obj"], "the call succeeded")  # so that an error path jumps past something
            k.label("err")

        return d
    return make


def _objs(d):
    obj = d.kref("obj", live=True, owners=("t",))
    return {"obj": obj, "mem": d.mem("mem"), "lk": d.mutex("lk"), "f": d.fence("f", live=True, owners=("t",)),
            "slot": d.slot("slot", obj, kind="idr"), "r": d.resv("r"),
            "buf": d.dma_buf("buf", live=True, owners=("t",))}


PARAMS = [
    ("kzalloc fail", lambda k, o, **kw: k.kzalloc(o["mem"], **kw), {"fail": "err"}),
    ("kzalloc gfp", lambda k, o, **kw: k.kzalloc(o["mem"], **kw), {"gfp": "GFP_ATOMIC"}),
    ("kzalloc initialised", lambda k, o, **kw: (k.kzalloc(o["mem"], **kw), k.init(o["mem"])), {"initialised": False}),
    ("publish fail", lambda k, o, **kw: k.publish(o["slot"], **kw), {"fail": "err"}),
    ("lookup fail", lambda k, o, **kw: k.lookup(o["slot"], fail="err", **kw), {"text": "idr_find"}),
    ("mutex interruptible", lambda k, o, **kw: (k.mutex_lock(o["lk"], **kw), k.mutex_unlock(o["lk"])),
     {"interruptible": True, "fail": "err"}),
    ("fence wait intr", lambda k, o, **kw: k.dma_fence_wait(o["f"], **kw), {"intr": True, "fail": "err"}),
    ("add_callback fail", lambda k, o, **kw: k.dma_fence_add_callback(o["f"], lambda k: None, **kw), {"fail": "err"}),
    ("add_callback pass_refs", lambda k, o, **kw: k.dma_fence_add_callback(o["f"], lambda k: None, **kw),
     {"pass_refs": "f"}),
    ("copy_to_user fail", lambda k, o, **kw: k.copy_to_user(**kw), {"fail": "err"}),
    ("reserve fail", lambda k, o, **kw: (k.dma_resv_lock(o["r"]), k.dma_resv_reserve_fences(o["r"], **kw),
                                         k.dma_resv_unlock(o["r"])), {"fail": "err"}),
    ("dma_buf_fd fail", lambda k, o, **kw: k.dma_buf_fd(o["buf"], k.b.d.slots[-1], **kw), {"fail": "err"}),
    ("context", lambda k, o, **kw: k.might_sleep(), {"context": "irq"}),
]


@pytest.mark.parametrize("what,call,kw", PARAMS, ids=[p[0] for p in PARAMS])
def test_no_call_parameter_is_inert(what, call, kw):
    def objs(d):
        o = _objs(d)
        d.slot("fd", o["buf"], kind="fd")
        return o

    make = one_call(call, objs)
    if "pass_refs" in kw:
        def with_refs(k, o, **_):
            k.dma_fence_add_callback(o["f"], lambda k: k.dma_fence_put(o["f"]), pass_refs=(o["f"],))
        make2 = one_call(with_refs, objs)
        assert fingerprint(make()) != fingerprint(make2())
        return
    assert fingerprint(make()) != fingerprint(make(**kw)), what


def test_object_declaration_options_change_the_model():
    def base(**kw):
        d = Driver("decl")
        lk = d.spinlock("shared")
        f = d.fence("f", live=True, owners=("t",), **kw.get("fence", {}))
        obj = d.kref("obj", live=True, owners=("t",), **kw.get("obj", {}))
        s = d.slot("s", obj, kind="list", **kw.get("slot", {}))

        @d.thread("t")
        def t(k):
            k.publish(s)
            k.dma_fence_add_callback(f, lambda k: None)
            k.dma_fence_put(f)

        del lk
        return d

    plain = fingerprint(base())
    assert fingerprint(base(slot={"holds_ref": False})) != plain
    assert fingerprint(base(fence={"release": lambda k: k.might_sleep()})) != plain
    assert fingerprint(base(fence={"enable_signaling": lambda k: None})) != plain


def test_a_dynamic_exporter_is_mapped_at_a_static_attach_before_v6_16():
    """ATT-6: v5.7-v6.15 the core maps and pins a mismatched pair at attach, under the resv; v6.16 attach maps
    nothing, so the flag changes nothing. ATT-3: either way attach takes the resv for the attachments list,
    so an importer attaching with the resv held deadlocks on itself."""
    def make(dynamic: bool, kernel: str, held: bool) -> Driver:
        d = Driver("att6", kernel=kernel)
        buf = d.dma_buf("buf", live=True, owners=("importer",), dynamic=dynamic)
        att = d.attachment("att", buf)

        @d.thread("importer")
        def importer(k):
            if held:
                k.dma_resv_lock(buf.resv)
            k.dma_buf_attach(att)
            if held:
                k.dma_resv_unlock(buf.resv)
            k.dma_buf_detach(att)
            k.dma_buf_put(buf)
        return d

    assert fingerprint(make(True, "v5.19", False)) != fingerprint(make(False, "v5.19", False))
    assert fingerprint(make(True, "v6.16", False)) == fingerprint(make(False, "v6.16", False))
    for dynamic in (True, False):  # ATT-3 (v5.7 on): dma_buf_attach() takes the resv for list_add itself
        for kernel in ("v5.19", "v6.16"):
            m, info = make(dynamic, kernel, True).build()
            r = explore(m, safety(m, info), symmetry=False, stop_at_first=False)
            assert {v.property for v in r.violated} == {"no-fence-wait-deadlock", "no-stuck-state"}
            assert holds(make(dynamic, kernel, False)) > 0
    m, _info = make(False, "v6.16", False).build()
    assert [a.call for a in m.actions][:3] == [
        "att = dma_buf_attach(buf)", "dma_resv_lock(buf.resv, NULL)",
        "dma_resv_unlock(buf.resv) /* list_add(&attach->node) */"]


# ---- mistakes in a program are one line ------------------------------------------------------------

@pytest.mark.parametrize("call,msg", [
    (lambda k, o: k.mutex_lock(o["lk"], fail="err"), "mutex_lock(fail='err') cannot fail without interruptible=True"),
    (lambda k, o: k.dma_resv_lock(o["r"], fail="err"), "dma_resv_lock(fail='err') cannot fail without interruptible"),
    (lambda k, o: k.dma_resv_lock(o["r"], ctx=True, fail="err"), "dma_resv_lock(fail='err') cannot fail"),
    (lambda k, o: k.dma_fence_wait(o["f"], fail="err"), "dma_fence_wait(fail='err') cannot fail without intr=True"),
    (lambda k, o: k.dma_resv_wait_timeout(o["r"], fail="err"), "dma_resv_wait_timeout(fail='err') cannot fail"),
], ids=["mutex_lock", "dma_resv_lock", "dma_resv_lock ctx", "dma_fence_wait", "dma_resv_wait_timeout"])
def test_a_fail_label_on_an_uninterruptible_call_is_refused(call, msg):
    """Without interruptible/intr the kernel call never fails: an ignored ``fail`` would be a silent miss."""
    with pytest.raises(ModelError, match=r"thread t: " + re.escape(msg)):
        one_call(lambda k, o: call(k, o), _objs)().build()


def test_program_mistakes_are_model_errors_naming_the_thread():
    d = Driver("bad")
    lk = d.mutex("lk")

    @d.thread("t")
    def t(k):
        k.mutex_lock(lk)
        k.goto("nowhere")

    with pytest.raises(ModelError, match="thread t: goto 'nowhere', but no label 'nowhere'"):
        d.build()

    d = Driver("imbalance")
    lk = d.mutex("lk")

    @d.thread("t")
    def t2(k):
        k.may_goto("join", "if (x)")
        k.mutex_lock(lk)
        k.label("join")
        k.mutex_unlock(lk)

    m, info = d.build()  # not an error: the dynamic checks see each path (here: an unlock without the lock)
    assert info.imbalances == ["t: 'mutex_unlock(lk)' is reached holding different locks on different paths "
                               "(sparse: context imbalance)"]
    assert run(d)[0] == {"unlock-not-held": 1}
    with pytest.raises(ModelError, match="context must be one of"):
        Driver("x").thread("t", context="nmi")
    with pytest.raises(ModelError, match="declared twice"):
        d2 = Driver("x")
        d2.mutex("a")
        d2.spinlock("a")
    d3 = Driver("x")
    d3.kref("o", live=True, owners=("nobody",))
    d3.thread("t")(lambda k: None)
    with pytest.raises(ModelError, match="owner 'nobody' is not a thread, an object or a holder"):
        d3.build()
    d4 = Driver("x")

    @d4.thread("t")
    def t4(k):
        k.dma_fence_end_signalling()

    with pytest.raises(ModelError, match="without dma_fence_begin_signalling"):
        d4.build()


def test_a_driver_file_checks_from_the_command_line(tmp_path, capsys):
    import hashlib
    import json

    from dmabuf_check import registry
    from tests.test_cli import run_cli

    src = tmp_path / "my_driver.py"
    src.write_text(
        "from dmabuf_check.model.driver import Driver\n"
        "d = Driver('my-driver')\n"
        "obj = d.kref('obj', live=True, owners=('t',))\n"
        "@d.thread('t')\n"
        "def t(k):\n"
        "    k.kref_put(obj)\n"
        "    k.use(obj, 'obj->size')\n"
        "DESIGN = d\n")
    code, out, _err = run_cli(capsys, "check", str(src), "--trace-dir", str(tmp_path / "traces"),
                              "--sarif", str(tmp_path / "out.sarif"))
    assert code == 1
    assert "why: t at 'obj->size' (" in out and "my_driver.py:7): obj was freed" in out  # the call's line
    (res,) = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["results"]
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("my_driver.py") and loc["region"] == {"startLine": 7}
    (trace,) = (tmp_path / "traces").iterdir()
    params = json.loads(trace.read_text())["params"]
    # the file by the path as given and by content, never by an absolute path of this machine
    assert params["file"] == str(src) and params["file_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    registry._FILES.clear()  # as in a fresh process: nothing loaded
    code, _out, err = run_cli(capsys, "trace", "replay", str(trace))
    assert code == 2 and f"pass --model-file {src} to load it (a trace never runs a file by itself)" in err
    code, out, _err = run_cli(capsys, "trace", "replay", str(trace), "--model-file", str(src))
    assert code == 0 and "replay ok" in out
    out_test = tmp_path / "regress" / "test_regress.py"
    code, _out, _err = run_cli(capsys, "trace", "export", str(trace), "--model-file", str(src), "--as", "pytest",
                               "-o", str(out_test))
    assert code == 0 and "MODEL_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '../my_driver.py')" \
        in out_test.read_text()
    registry._FILES.clear()
    ns: dict = {"__file__": str(out_test)}
    exec(compile(out_test.read_text(), str(out_test), "exec"), ns)
    next(v for k, v in ns.items() if k.startswith("test_"))()  # the exported test loads the file and passes
    src.write_text(src.read_text() + "# changed\n")
    registry._FILES.clear()
    code, _out, err = run_cli(capsys, "trace", "replay", str(trace), "--model-file", str(src))
    assert code == 2 and "check the changed file again" in err
    code, _out, err = run_cli(capsys, "check", str(src), "--mix", "static=1")
    assert code == 2 and "--mix applies to exporter designs" in err


def test_the_tutorial_program_behaves_as_docs_programs_md_says(tmp_path):
    """docs/programs.md: the udmabuf export path leaks on dma_buf_fd failure; the fixed paths hold."""
    import os
    import re
    import runpy

    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "programs.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    src = tmp_path / "my_udmabuf.py"
    src.write_text(blocks[0])
    violated, vacuous, _states, _m = run(runpy.run_path(str(src))["DESIGN"])
    assert violated == {"kref-leak": 4} and vacuous == []
    body = blocks[0]
    start, end = body.index("    k.kzalloc(priv"), body.index("@d.userspace")
    src.write_text(body[:start] + blocks[1] + "\n" + body[end:])
    assert holds(runpy.run_path(str(src))["DESIGN"]) == 27


def retry_loop(bug: bool) -> Driver:
    d = Driver("retry-loop")
    lk = d.mutex("ring->lock")
    f = d.fence("job", live=True, owners=(d.holder("sync_file"),))

    @d.thread("worker")
    def worker(k):
        k.label("retry")
        k.mutex_trylock(lk, fail="retry")  # spins while the holder waits for the fence
        k.dma_fence_signal(f)
        k.mutex_unlock(lk)

    @d.thread("holder")
    def holder(k):
        k.mutex_lock(lk)
        if bug:
            k.dma_fence_wait(f)
            k.mutex_unlock(lk)
        else:
            k.mutex_unlock(lk)
            k.dma_fence_wait(f)

    return d


def test_a_livelock_the_safety_checks_cannot_see_is_a_fair_lasso():
    from dmabuf_check.checker.api import check_model
    from dmabuf_check.checker.explicit.search import Limits

    def check(d):
        m, info = d.build()
        return check_model(m, for_driver(m, info), symmetry=False, stop_at_first=False, limits=Limits())

    r = check(retry_loop(True))
    assert [(v.property, v.counterexample.length, v.counterexample.loop is not None) for v in r.violated] == [
        ("fence-eventually-signals", 2, True)]  # the retry loop is always enabled: no stuck state, no wait cycle
    assert check(retry_loop(False)).ok


def unlocked_map(dynamic: bool) -> Driver:
    d = Driver("map-generations")
    buf = d.dma_buf("buf", live=True, owners=("imp",))
    att = d.attachment("att", buf, dynamic=dynamic)

    @d.thread("imp")
    def imp(k):
        k.dma_buf_attach(att)
        k.dma_buf_map_attachment(att)  # no resv taken by the caller
        k.dma_buf_unmap_attachment(att)
        k.dma_buf_detach(att)
        k.dma_buf_put(buf)

    return d


def test_the_core_map_path_follows_the_generation():
    # v6.2+: the _unlocked call takes the resv itself (MAP-2), so the caller is fine, and the lock shows
    m, _info = unlocked_map(False).build("v6.16")
    assert [a.call for a in m.actions][3:5] == ["dma_resv_lock(buf.resv, NULL)", "dma_buf_map_attachment_unlocked(att)"]
    assert holds(unlocked_map(True), "v6.16") == 17
    # v5.7-v6.1: the core takes nothing; a static importer needs no resv, a dynamic one must hold it (LOCK-1)
    m, _info = unlocked_map(False).build("v5.19")
    assert [a.call for a in m.actions][3] == "dma_buf_map_attachment(att)"
    assert holds(unlocked_map(False), "v5.19") == 13
    # ATT-6: attach maps the mismatched pair (a dynamic importer, a static exporter) under the resv first
    assert run(unlocked_map(True), "v5.19")[0] == {"resv-held": 3}  # attach, lock, unlock; about to map unlocked


def ww_pair(bug: str | None) -> Driver:
    """Two transactions lock two BOs in opposite orders (drm_exec style): wait-die with the backoff."""
    d = Driver("ww-pair")
    bo_a, bo_b = d.resv("bo_a.resv"), d.resv("bo_b.resv")

    def txn(first, second):
        def body(k):
            if bug == "null-ctx":
                k.dma_resv_lock(first)
                k.dma_resv_lock(second)
                k.dma_resv_unlock(second)
                k.dma_resv_unlock(first)
                return
            k.ww_acquire_init()
            k.dma_resv_lock(first, ctx=True)  # the first lock of a transaction never dies
            k.label("have_first")
            k.dma_resv_lock(second, ctx=True, edeadlk=None if bug == "ignore-edeadlk" else "backoff_first")
            k.dma_resv_unlock(second)
            k.dma_resv_unlock(first)
            k.ww_acquire_fini()
            k.ret(0)
            k.label("backoff_first")  # -EDEADLK on second: drop first, sleep on second, then retake first
            if bug != "slow-holding":
                k.dma_resv_unlock(first)
            k.dma_resv_lock_slow(second)
            if bug == "slow-holding":
                k.dma_resv_unlock(second)
                k.dma_resv_unlock(first)
                k.ww_acquire_fini()
                k.ret(0)
            k.dma_resv_lock(first, ctx=True, edeadlk="backoff_second")
            k.dma_resv_unlock(first)
            k.dma_resv_unlock(second)
            k.ww_acquire_fini()
            k.ret(0)
            k.label("backoff_second")
            k.dma_resv_unlock(second)
            k.dma_resv_lock_slow(first)
            k.goto("have_first")
        return body

    d.thread("t1")(txn(bo_a, bo_b))
    d.thread("t2")(txn(bo_b, bo_a))
    if bug is None:  # two more transactions: a context can die again after its slow lock, in either order
        d.thread("t3")(txn(bo_a, bo_b))
        d.thread("t4")(txn(bo_b, bo_a))
    return d


@pytest.mark.parametrize("bug,prop,length", [("null-ctx", "no-fence-wait-deadlock", 2),
                                             ("slow-holding", "ww-backoff", 5),
                                             ("ignore-edeadlk", "unlock-not-held", 5)])
def test_ww_transactions(bug, prop, length):
    assert run(ww_pair(bug))[0][prop] == length


def test_wait_die_with_backoff_holds_and_every_path_is_taken():
    assert holds(ww_pair(None)) == 62160  # four transactions, two per order: every backoff path is taken


def test_lockdep_sees_ww_nesting_with_a_context_and_abba_without():
    from dmabuf_check.checker.locks.order import analyze
    from dmabuf_check.checker.locks.rules import RuleSet

    m, _info = ww_pair(None).build()
    assert analyze(m, [], RuleSet()).cycles == []
    m, _info = ww_pair("null-ctx").build()
    (cyc,) = analyze(m, [], RuleSet()).cycles
    assert cyc.level == "instance" and {e.src for e in cyc.edges} == {"bo_a.resv", "bo_b.resv"}


def test_a_proposed_core_change_is_checked_against_an_existing_program():
    """ead6680f354f ('dma-buf: fix UAF in dma_buf_fd() tracepoint') was a bug of the core itself: written
    as a change of dma_buf_fd() over the fixed export program, the checker finds it; the fix holds."""
    from dmabuf_check.model.designs.programs import export_fd

    def traced(after: bool):
        d = export_fd.make()

        @d.core("dma_buf_fd")
        def dma_buf_fd(k, buf, slot, *, fail, default):
            if not after:
                k.use(buf, "DMA_BUF_TRACE(dma_buf_fd, dmabuf) before fd_install")
            default()  # get_unused_fd_flags() + fd_install(): the fd is live from here
            if after:
                k.use(buf, "DMA_BUF_TRACE(dma_buf_fd, dmabuf): spin_lock(&dmabuf->name_lock)")

        return d

    violated, *_ = run(traced(True))
    assert violated == {"use-after-free": 10}  # userspace closes the new fd and the release runs first
    assert holds(traced(False)) == 41
    with pytest.raises(ModelError, match="core call 'dma_buf_frob': one of"):
        Driver("x").core("dma_buf_frob")


def rcu_reader(bug: str | None) -> Driver:
    """A reader of an RCU-published fence pointer racing with its replacement (dma_fence_get_rcu_safe)."""
    d = Driver("rcu-reader")
    f = d.fence("excl", live=True, owners=("gpu",))
    ptr = d.slot("resv->fence_excl", f, kind="ptr", installed=True)

    @d.thread("reader", kernel="dma_resv_get_excl_unlocked()")
    def reader(k):
        k.rcu_read_lock()
        k.peek(ptr, fail="none", text="fence = rcu_dereference(resv->fence_excl)")
        if bug == "get-not-rcu":
            k.dma_fence_get(f)
        else:
            k.dma_fence_get_rcu(f, fail="none")
        k.rcu_read_unlock()
        if bug == "use-after-unlock":
            k.dma_fence_put(f)
            k.use(f, "fence->seqno (after rcu_read_unlock, no reference)")
            k.ret()
        k.dma_fence_wait(f)
        k.dma_fence_put(f)
        k.ret()
        k.label("none")
        k.rcu_read_unlock()

    @d.thread("writer", kernel="dma_resv_add_excl_fence(): replace, then put the old fence")
    def writer(k):
        k.unpublish(ptr, text="RCU_INIT_POINTER(resv->fence_excl, new)")
        k.dma_fence_put(f)

    @d.irq("gpu")
    def gpu(k):
        k.dma_fence_signal(f)
        k.dma_fence_put(f)

    return d


@pytest.mark.parametrize("bug,prop,length", [("get-not-rcu", "kref-get-zero", 7),
                                             ("use-after-unlock", "use-after-free", 10)])
def test_rcu_readers_need_get_rcu_and_a_reference_after_the_read_side(bug, prop, length):
    assert run(rcu_reader(bug))[0][prop] == length


def test_an_rcu_reader_with_dma_fence_get_rcu_holds():
    m, _info = rcu_reader(None).build()
    assert "rcu_grace_period" in {a.name for a in m.actions}  # fences are kfree_rcu'd once RCU readers exist
    assert holds(rcu_reader(None)) == 92


def shrinker_vs_allocation(bug: bool) -> Driver:
    """An allocation that may enter reclaim while holding the lock the driver's shrinker takes (DL-7)."""
    d = Driver("shrinker")
    lk = d.mutex("dev->lru_lock")
    obj = d.mem("bo")

    @d.thread("ioctl")
    def ioctl(k):
        k.mutex_lock(lk)
        k.kzalloc(obj, "GFP_KERNEL" if bug else "GFP_NOWAIT", fail="unlock")
        k.kfree(obj)
        k.label("unlock")
        k.mutex_unlock(lk)

    @d.shrinker("scan")
    def scan(k):
        k.mutex_trylock(lk, fail="busy") if not bug else k.mutex_lock(lk)
        k.mutex_unlock(lk)
        k.label("busy")

    return d


def test_reclaim_calling_a_shrinker_is_a_lock_cycle_through_fs_reclaim():
    from dmabuf_check.checker.locks.order import analyze
    from dmabuf_check.checker.locks.rules import RuleSet

    m, _info = shrinker_vs_allocation(True).build()
    (cyc,) = analyze(m, [], RuleSet()).cycles
    assert sorted((e.src, e.dst) for e in cyc.edges) == [("dev->lru_lock", "fs_reclaim"), ("fs_reclaim", "dev->lru_lock")]
    m, _info = shrinker_vs_allocation(False).build()  # GFP_NOWAIT enters no reclaim; the shrinker only trylocks
    assert analyze(m, [], RuleSet()).cycles == []
    assert holds(shrinker_vs_allocation(False)) == 17


def move_notify(bug: str | None) -> Driver:
    """An exporter moving a buffer notifies a dynamic importer, whose move_notify runs under the resv (DYN-8)."""
    d = Driver("move-notify")
    buf = d.dma_buf("vram_bo", live=True, owners=("importer", d.holder("exporter_gem")), dynamic=True)
    stale = d.field("importer->mapping_valid", init=0)

    def invalidate(k):  # the importer's move_notify: drop its mapping, remap later
        if bug == "unmap-unlocked-in-notify":
            k.dma_buf_unmap_attachment(att)  # the _unlocked form takes the resv the exporter holds (DL-14c)
        else:
            k.set(stale, 0, "mark the mapping invalid; unmap/remap under the resv later")

    att = d.attachment("importer_att", buf, dynamic=True, move_notify=invalidate)

    @d.thread("importer", kernel="a dynamic importer")
    def importer(k):
        k.dma_buf_attach(att)
        k.dma_resv_lock(buf.resv)
        k.dma_buf_map_attachment(att, locked=True)
        k.set(stale, 1, "the mapping is valid")
        k.dma_resv_unlock(buf.resv)
        k.dma_resv_lock(buf.resv)
        k.dma_buf_unmap_attachment(att, locked=True)
        k.dma_resv_unlock(buf.resv)
        k.dma_buf_detach(att)
        k.dma_buf_put(buf)

    @d.thread("evict", kernel="ttm_bo_evict(): move the buffer")
    def evict(k):
        if bug != "notify-without-resv":
            k.dma_resv_lock(buf.resv)
        k.dma_buf_move_notify(buf)
        if bug != "notify-without-resv":
            k.dma_resv_unlock(buf.resv)

    return d


@pytest.mark.parametrize("bug,prop,length", [("unmap-unlocked-in-notify", "no-fence-wait-deadlock", 6),
                                             ("notify-without-resv", "resv-held", 0)])
def test_move_notify_runs_the_importers_callback_under_the_resv(bug, prop, length):
    assert run(move_notify(bug))[0][prop] == length


def test_move_notify_with_an_invalidating_importer_holds():
    assert holds(move_notify(None)) == 66


def test_environment_actors_switched_on_find_what_hand_written_ones_do():
    """userspace_closes_fds() and list_readers() stand in for the hand-written close and debugfs threads."""
    d = Driver("env-export")
    priv = d.mem("priv")
    buf = d.dma_buf("buf", ops={"release": lambda k: k.kfree(priv)})
    fd = d.slot("fd", buf, kind="fd")
    lock = d.mutex("exp_list_lock")
    exported = d.slot("exp_list", priv, kind="list", holds_ref=False, lock=lock)

    @d.thread("ioctl")
    def ioctl(k):
        k.kzalloc(priv, initialised=False, fail="out")
        k.dma_buf_export(buf, priv=priv, fail="free")
        k.mutex_lock(lock)
        k.publish(exported, "list_add(&priv->next, &exp_list)")  # before priv is set up: readers see it
        k.mutex_unlock(lock)
        k.init(priv)
        k.dma_buf_fd(buf, fd, fail="put")
        k.ret(0)
        k.label("put")
        k.dma_buf_put(buf)
        k.ret(-1)
        k.label("free")
        k.kfree(priv)
        k.label("out")

    d.userspace_closes_fds()
    d.list_readers()
    assert [t.name for t in d.threads] == ["ioctl", "close_fd", "read_exp_list"]
    violated, *_ = run(d)
    assert violated["use-before-init"] == 6  # the reader finds priv before init()
    assert violated["use-after-free"] == 11  # dma_buf_fd fails: the release frees priv still on the list


def test_the_gpu_actor_runs_a_job_after_its_dependencies():
    d = Driver("gpu-job")
    dep = d.fence("dep", live=True, owners=("dep_job",))
    out = d.fence("out", live=True, owners=("job", "waiter"))
    d.gpu("dep_job", signals=dep)
    d.gpu("job", signals=out, after=(dep,))

    @d.thread("waiter")
    def waiter(k):
        k.dma_fence_wait(out)
        k.dma_fence_put(out)

    violated, *_ = run(d)
    assert violated == {"use-after-free": 3}  # dep_job dropped its only reference: job waits on freed memory
    d2 = Driver("gpu-job")
    dep = d2.fence("dep", live=True, owners=("dep_job", "job"))
    out = d2.fence("out", live=True, owners=("job", "waiter"))
    d2.gpu("dep_job", signals=dep)

    @d2.thread("job")
    def job(k):
        k.dma_fence_wait(dep)
        k.dma_fence_put(dep)
        k.dma_fence_signal(out)
        k.dma_fence_put(out)

    d2.thread("waiter")(waiter)
    assert holds(d2) > 0


def test_a_mistake_in_a_thread_body_is_one_line_naming_the_line(tmp_path, capsys):
    from tests.test_cli import run_cli

    src = tmp_path / "typo.py"
    src.write_text("from dmabuf_check.model.driver import Driver\n"
                   "d = Driver('typo')\n"
                   "obj = d.kref('obj', live=True, owners=('t',))\n"
                   "@d.thread('t')\n"
                   "def t(k):\n"
                   "    k.kref_put(obj)\n"
                   "    k.kref_putt(obj)\n"
                   "DESIGN = d\n")
    code, _out, err = run_cli(capsys, "check", str(src))
    assert code == 2 and err.count("\n") == 1
    assert "thread t: its body raised AttributeError at" in err and "typo.py:7" in err and "kref_putt" in err


def fence_array_waiter(bug: str | None) -> Driver:
    d = Driver("fence-array")
    m1 = d.fence("m1", live=True, owners=("ring1",))
    m2 = d.fence("m2", live=True, owners=("ring2",))
    arr = d.fence_array("array", (m1, m2), owners=("waiter",))

    def woken(k):
        pass

    @d.thread("waiter", kernel="dma_fence_wait(array) via a callback")
    def waiter(k):
        k.dma_fence_add_callback(arr, woken, fail="done")
        k.label("done")
        if bug != "leak-array":
            k.dma_fence_put(arr)

    for name, f in (("ring1", m1), ("ring2", m2)):
        def ring(k, f=f):
            k.dma_fence_signal(f)
            k.dma_fence_put(f)
        d.irq(name)(ring)
    return d


def test_a_fence_array_signals_once_every_member_has_and_frees_everything():
    assert holds(fence_array_waiter(None)) == 828
    assert run(fence_array_waiter("leak-array"))[0] == {"kref-leak": 8}
    d = Driver("nested")
    f = d.fence("f", live=True, owners=("t",))
    inner = d.fence_array("inner", (f,))
    with pytest.raises(ModelError, match="CONT-2"):
        d.fence_array("outer", (inner,))


def cpu_brackets(bug: str | None) -> Driver:
    d = Driver("cpu-access")
    buf = d.dma_buf("buf", live=True, owners=("reader",))

    @d.thread("reader", kernel="a kernel CPU reader of the buffer")
    def reader(k):
        if bug == "unbracketed":
            k.cpu_access(buf, "memcpy(dst, vaddr, len)")
        elif bug == "end-without-begin":
            k.dma_buf_end_cpu_access(buf)
        elif bug == "vunmap-without-vmap":
            k.dma_buf_vunmap(buf)
        else:
            k.dma_buf_begin_cpu_access(buf)
            k.cpu_access(buf, "memcpy(dst, vaddr, len)")
            k.dma_buf_end_cpu_access(buf)
            k.dma_buf_vmap(buf)
            k.cpu_access(buf, "read through the vmap")
            k.dma_buf_vunmap(buf)
        k.dma_buf_put(buf)

    return d


@pytest.mark.parametrize("bug,prop", [("unbracketed", "cpu-access-bracketed"), ("end-without-begin", "cpu-access-bracketed"),
                                      ("vunmap-without-vmap", "vunmap-after-vmap")])
def test_cpu_access_is_bracketed_and_vmaps_balance(bug, prop):
    assert run(cpu_brackets(bug))[0] == {prop: 0}


def test_bracketed_cpu_access_holds():
    assert holds(cpu_brackets(None)) == 11


def dma_after_move(bug: bool) -> Driver:
    d = Driver("dma-after-move")
    buf = d.dma_buf("bo", live=True, owners=("importer", d.holder("exporter")), dynamic=True)
    att = d.attachment("att", buf, dynamic=True, move_notify=lambda k: None)  # invalidate: remap on next use

    @d.thread("importer", kernel="a dynamic importer's job")
    def importer(k):
        k.dma_buf_attach(att)
        k.dma_buf_map_attachment(att)
        k.dma_resv_lock(buf.resv)
        if not bug:
            k.goto_if(~att.stale, "valid", "if (invalidated)")
            k.dma_buf_map_attachment(att, locked=True)  # remap the moved buffer
            k.label("valid")
        k.dma_access(att, "the job's DMA through the mapping")
        k.dma_resv_unlock(buf.resv)
        k.dma_buf_unmap_attachment(att)
        k.dma_buf_detach(att)
        k.dma_buf_put(buf)

    @d.thread("evict", kernel="the exporter moves the buffer")
    def evict(k):
        k.dma_resv_lock(buf.resv)
        k.dma_buf_move_notify(buf)
        k.dma_resv_unlock(buf.resv)

    return d


def test_dma_after_move_notify_needs_a_remap():
    assert run(dma_after_move(True))[0] == {"dma-through-live-mapping": 11}  # the move came between map and DMA
    assert holds(dma_after_move(False)) == 68


@pytest.mark.skipif(__import__("shutil").which("gcc") is None, reason="gcc not installed")
@pytest.mark.parametrize("name", ["bug-dma-buf-fd-trace", "bug-sched-kill-cb-deadlock", "bug-fence-array-signaled-no-progress"])
def test_program_traces_export_kselftest_skeletons_that_compile(tmp_path, name):
    """A driver program's calls name the driver's own objects: every step goes through the test hook."""
    import subprocess

    from dmabuf_check.checker.api import check_model
    from dmabuf_check.checker.explicit.search import Limits
    from dmabuf_check.traces.evaluate import from_counterexample
    from dmabuf_check.traces.export_kselftest import HEADER, to_kselftest

    ref = bugs()[name]
    m, _info, props = build(ref)
    r = check_model(m, [p for p in props if p.id == ref.bug.property], symmetry=False, limits=Limits())
    trace = from_counterexample(r.violated[0].counterexample, m, properties=props)
    src = tmp_path / "t.c"
    src.write_text(to_kselftest(trace))
    p = subprocess.run(["gcc", "-fsyntax-only", "-std=gnu11", "-Wall", "-Wextra", "-Werror", f"-I{HEADER.parent}",
                        str(src)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert 'dmabuf_model_action("ioctl_3", "dma_buf_fd(buf) -> fd");' in src.read_text() or name != "bug-dma-buf-fd-trace"


def test_a_core_change_is_checked_against_every_driver_program(tmp_path, capsys):
    from tests.test_cli import run_cli

    change = tmp_path / "trace_after_install.py"
    change.write_text("def dma_buf_fd(k, buf, slot, *, fail, default):\n"
                      "    default()\n"
                      "    k.use(buf, 'DMA_BUF_TRACE(dma_buf_fd, dmabuf)')\n"
                      "CORE = {'dma_buf_fd': dma_buf_fd}\n")
    code, out, _err = run_cli(capsys, "core", str(change))
    assert code == 1 and "1 of 30 driver programs broken by the change" in out
    assert "use-after-free after 10 steps: ioctl at 'DMA_BUF_TRACE(dma_buf_fd, dmabuf)'" in out
    harmless = tmp_path / "same.py"
    harmless.write_text("def dma_buf_fd(k, buf, slot, *, fail, default):\n"
                        "    k.use(buf, 'DMA_BUF_TRACE(dma_buf_fd, dmabuf)')\n"
                        "    default()\n"
                        "CORE = {'dma_buf_fd': dma_buf_fd}\n")
    code, out, _err = run_cli(capsys, "core", str(harmless))
    assert code == 0 and "all 30 driver programs hold with the change" in out
    bad = tmp_path / "bad.py"
    bad.write_text("CORE = {'dma_buf_frob': print}\n")
    code, _out, err = run_cli(capsys, "core", str(bad))
    assert code == 2 and "CORE['dma_buf_frob']: not a replaceable core call" in err and err.count("\n") == 1


def test_dma_fence_put_of_null_is_a_no_op_but_kref_put_of_null_is_not():
    d = Driver("null-put")
    f = d.fence("maybe_fence")  # never initialised: a NULL pointer
    obj = d.kref("maybe_obj")

    @d.thread("t")
    def t(k):
        k.dma_fence_get(f)
        k.dma_fence_put(f)
        k.kref_put(obj)

    assert run(d)[0] == {"use-before-init": 2}  # only kref_put(NULL): it dereferences the NULL kref


def irq_kinds(irq_context: str, process_lock: str) -> Driver:
    d = Driver("irq-kinds")
    lk = d.spinlock("ring->lock")

    @d.thread("handler", context=irq_context)
    def handler(k):
        k.spin_lock(lk)
        k.spin_unlock(lk)

    @d.thread("process")
    def process(k):
        getattr(k, process_lock)(lk)
        getattr(k, process_lock.replace("lock", "unlock").replace("irqsave", "irqrestore"))(lk)

    return d


@pytest.mark.parametrize("context,lock,broken", [
    ("irq", "spin_lock", True), ("irq", "spin_lock_bh", True),  # _bh leaves hard interrupts on
    ("irq", "spin_lock_irqsave", False),
    ("softirq", "spin_lock", True), ("softirq", "spin_lock_bh", False), ("softirq", "spin_lock_irqsave", False)])
def test_lockdep_usage_distinguishes_hardirq_from_softirq(context, lock, broken):
    violated = run(irq_kinds(context, lock))[0]
    assert ("irq-inconsistent-lock" in violated) is broken


def out_fence_sync_file(bug: str | None) -> Driver:
    d = Driver("sync-file")
    f = d.fence("out", live=True, owners=("submit", "gpu"))
    sf, fd = d.sync_file("out_sync", f)

    @d.thread("submit", kernel="a submit ioctl returning an out-fence fd")
    def submit(k):
        k.sync_file_create(sf, fail="put")
        if bug == "use-after-install":
            k.fd_install(fd)
            k.dma_fence_put(f)
            k.use(f, "trace_out_fence(fence)")  # the fd owns the only path to the fence now
            k.ret(0)
        k.dma_fence_put(f)  # the sync_file holds its own reference
        k.fd_install(fd)
        k.ret(0)
        k.label("put")
        k.dma_fence_put(f)

    @d.userspace("wait", kernel="another submit importing the fd as an in-fence")
    def wait(k):
        k.sync_file_get_fence(fd, fail="ebadf")
        k.dma_fence_wait(f)
        k.dma_fence_put(f)
        k.label("ebadf")

    @d.userspace("close")
    def close(k):
        k.close(fd)

    @d.irq("gpu")
    def gpu(k):
        k.dma_fence_signal(f)
        k.dma_fence_put(f)

    return d


def test_a_sync_file_owns_its_fence_and_the_fd_owns_the_file():
    # the submit's own reference went after fd_install: close and the GPU drop the rest
    assert run(out_fence_sync_file("use-after-install"))[0]["use-after-free"] == 10
    assert holds(out_fence_sync_file(None)) == 232


def put_under_lock(sync: bool) -> Driver:
    """The exporter's ioctl drops its dma-buf reference while holding the device lock its release takes."""
    d = Driver("put-under-lock")
    dev_lock = d.mutex("dev->lock")

    def release(k):  # the exporter's dma_buf_ops.release: unlinks the buffer from the device's list
        k.mutex_lock(dev_lock)
        k.mutex_unlock(dev_lock)

    buf = d.dma_buf("buf", live=True, owners=("ioctl",), ops={"release": release})

    @d.thread("ioctl")
    def ioctl(k):
        k.mutex_lock(dev_lock)
        if sync:  # what running the release inline would mean: it waits for the lock its caller holds
            k.use(buf, "__fput_sync(dmabuf->file)")
            release(k)
        k.dma_buf_put(buf)
        k.mutex_unlock(dev_lock)
    return d


def test_the_last_fput_defers_the_release_to_task_work():
    # fs/file_table.c fput(): the last reference does task_work_add(task, &file->f_task_work, TWA_RESUME)
    # (or schedules delayed_fput_work): ____fput() -> __fput() -> dma_buf_file_release() -> dma_buf_release()
    # runs after the putter returned, with none of its locks; dma_buf_put() is fput(dmabuf->file)
    states = holds(put_under_lock(False))
    assert states == 10
    m, _info = put_under_lock(False).build(None)
    fput = [a for a in m.actions if a.actor == "__fput_buf"]
    assert fput and fput[0].call == "____fput(buf): the deferred release runs"
    [take] = [a for a in fput if "dev->lock" in a.acquires]
    assert take.holds == ()  # the release takes dev->lock holding nothing
    assert run(put_under_lock(True))[0] == {"no-fence-wait-deadlock": 2, "no-stuck-state": 2}  # inline: deadlock


def test_the_core_pins_on_map_from_v6_16_and_hands_out_the_attach_time_table_before():
    # v6.16 dma_buf_map_attachment(): "if (dma_buf_pin_on_map(attach)) ret = attach->dmabuf->ops->pin(attach)"
    # before ops->map_dma_buf, unpin after ops->unmap_dma_buf; v5.7-v6.15 a static attachment of a dynamic
    # exporter was pinned and mapped at attach and map returned attach->sgt (ATT-6, MAP-9)
    def make(kernel: str, dynamic_att: bool) -> Driver:
        d = Driver("pin-on-map", kernel=kernel)
        def op_body(op: str):
            return lambda k: k.use(buf, f"exporter {op}()")
        ops = {op: op_body(op) for op in ("pin", "unpin", "map", "unmap")}
        buf = d.dma_buf("buf", live=True, owners=("importer",), dynamic=True, ops=ops)
        att = d.attachment("att", buf, dynamic=dynamic_att, move_notify=(lambda k: None) if dynamic_att else None)

        @d.thread("importer")
        def importer(k):
            k.dma_buf_attach(att)
            k.dma_buf_map_attachment(att)
            k.dma_buf_unmap_attachment(att)
            k.dma_buf_detach(att)
            k.dma_buf_put(buf)
        return d

    def calls(kernel: str, dynamic_att: bool) -> list[str]:
        m, _info = make(kernel, dynamic_att).build()
        return [a.call for a in m.actions if a.actor == "importer" and a.call.startswith(("exporter", "dma_buf_"))]

    assert calls("v6.16", False) == [
        "dma_buf_map_attachment_unlocked(att)", "exporter pin()", "exporter map()",
        "dma_buf_unmap_attachment_unlocked(att)", "exporter unmap()", "exporter unpin()",
        "dma_buf_detach(buf, att)", "dma_buf_put(buf)"]
    assert "exporter pin()" not in calls("v6.16", True)  # a dynamic importer follows move_notify instead
    assert calls("v6.2", False) == [
        "exporter pin()", "exporter map()", "dma_buf_map_attachment_unlocked(att)",
        "dma_buf_unmap_attachment_unlocked(att)", "dma_buf_detach(buf, att)", "exporter unmap()", "exporter unpin()",
        "dma_buf_put(buf)"]
    for kernel in ("v6.16", "v6.2", "v5.19"):
        assert holds(make(kernel, False)) > 0


def timeline(bug: str | None = None) -> Driver:
    """Two points of a syncobj timeline: drm_syncobj_add_point() makes a dma_fence_chain node per point."""
    d = Driver("timeline")
    job1 = d.fence("job1", live=True, owners=("irq1",))
    job2 = d.fence("job2", live=True, owners=("irq2",))
    p1 = d.fence_chain("point1", job1, owners=("wait1",))
    p2 = d.fence_chain("point2", job2, prev=None if bug == "no-prev" else p1, owners=("wait2",))

    @d.irq("irq1")
    def irq1(k):
        k.dma_fence_signal(job1)
        k.dma_fence_put(job1)

    @d.irq("irq2")
    def irq2(k):
        k.dma_fence_signal(job2)
        k.dma_fence_put(job2)

    @d.thread("wait1", kernel="wait for point 1")
    def wait1(k):
        k.dma_fence_wait(p1)
        k.dma_fence_put(p1)

    @d.thread("wait2", kernel="wait for point 2: every earlier point is done")
    def wait2(k):
        k.dma_fence_wait(p2)
        k.bug_on(~job1.signaled, "point 2 signaled before point 1's fence")
        k.dma_fence_put(p2)
    return d


def test_a_fence_chain_point_signals_after_every_earlier_point():
    # drivers/dma-buf/dma-fence-chain.c: dma_fence_chain_enable_signaling() walks the chain and arms the node's
    # callback on the first unsignaled fence; dma_fence_chain_cb() queues the irq_work, which re-arms or signals;
    # dma_fence_default_wait() enables signaling first; the release drops prev and the fence
    assert holds(timeline(None)) == 31894
    assert run(timeline("no-prev"))[0] == {"driver-assert": 13}  # a point built without its predecessor
    m, _info = timeline(None).build()
    calls = [a.call for a in m.actions if a.actor == "wait2"]
    assert calls[:4] == ["dma_fence_wait(point2): spin_lock_irqsave(point2->lock)", "point2: signaling enabled?",
                         "point2->ops->enable_signaling()", "dma_fence_chain_for_each(point2): job2 signaled?"]
    assert "dma_fence_add_callback(job1, point2.cb1)" in calls  # the walk goes on to point 1's fence
    with pytest.raises(ModelError, match="its fence point1 is itself a chain node"):
        d = Driver("bad-chain")
        f = d.fence("f", live=True)
        d.fence_chain("point2", d.fence_chain("point1", f))  # fence=, not prev=


def test_a_live_object_nobody_holds_is_refused():
    # a kref at 0 is a freed object: alive with no reference is a state the kernel cannot be in, and the
    # first get would be reported as get-from-zero against code that is fine
    d = Driver("orphan")
    obj = d.kref("obj", live=True)

    @d.thread("t")
    def t(k):
        k.kref_get(obj)
        k.kref_put(obj)

    with pytest.raises(ModelError, match="obj is alive at the start but nobody holds a reference to it"):
        d.build()
