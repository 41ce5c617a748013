"""The documented locking patterns, written as designs, each reported with the right cycle; correct designs are clean."""

import pytest
from dmabuf_check.checker.locks.order import analyze
from dmabuf_check.checker.locks.rules import load
from dmabuf_check.properties.base import DEADLOCK
from dmabuf_check.traces import lockdep

from dmabuf_check.registry import build, builtin, resolve


def report(name: str):
    model, _info, props = build(resolve(name), None)
    deadlock = [p for p in props if p.kind == DEADLOCK or "deadlock" in p.id]
    return analyze(model, deadlock, load(None, model))


def classes(cyc):
    return [(e.src_class, e.dst_class) for e in cyc.edges]


@pytest.mark.parametrize("name", sorted(builtin()))
def test_every_builtin_correct_design_produces_no_report(name):
    rep = report(name)
    assert rep.clean, lockdep.render(rep)
    assert lockdep.render(rep).strip().startswith("no lock-order cycle:")


def test_lock_held_across_a_fence_wait_whose_signaller_takes_it():
    rep = report("bug-lock-across-fence-wait")
    job = next(c for c in rep.cycles if len(c.edges) == 2)
    assert sorted(classes(job)) == [("bug-lock-across-fence-wait:job_lock", "dma_fence_map"),
                                    ("dma_fence_map", "bug-lock-across-fence-wait:job_lock")]
    assert job.actual is not None and "lock job_lock" in job.actual.detail
    text = lockdep.circular(job, rep)
    assert "  rlock(dma_fence_map);" in text or "  lock(bug-lock-across-fence-wait:job_lock);" in text


def test_reservation_lock_inside_a_signalling_section():
    rep = report("bug-signal-takes-resv")
    [cyc] = rep.cycles
    assert sorted(classes(cyc)) == [("dma_fence_map", "reservation_ww_class_mutex"),
                                     ("reservation_ww_class_mutex", "dma_fence_map")]
    text = lockdep.circular(cyc, rep)
    assert "taking a dma_resv lock inside a fence signalling section (SIG-3, DL-8)" in text
    assert "ACTUAL deadlock in this configuration" in text


def test_allocation_in_a_signalling_path_against_the_primed_reclaim_wait():
    rep = report("bug-signal-allocates")
    [cyc] = rep.cycles
    assert classes(cyc) == [("fs_reclaim", "mmu_notifier_invalidate_range_start"),
                            ("mmu_notifier_invalidate_range_start", "dma_fence_map"),
                            ("dma_fence_map", "fs_reclaim")]
    text = lockdep.circular(cyc, rep)
    lines = text.splitlines()
    assert "  fs_reclaim --> mmu_notifier_invalidate_range_start --> dma_fence_map" in lines
    i = lines.index(" Possible unsafe locking scenario:")
    assert lines[i + 4:i + 8] == [
        "  rlock(dma_fence_map);",
        "                               lock(mmu_notifier_invalidate_range_start);",
        "                               lock(dma_fence_map);",
        "  lock(fs_reclaim);",
    ]
    assert "potential deadlock" in text  # the shrinker side is lockdep's boot-time priming


def test_abba_on_two_reservation_locks_without_an_acquire_context():
    rep = report("bug-submit-null-ctx")
    [cyc] = [c for c in rep.cycles if c.level == "instance"]
    assert sorted((e.src, e.dst) for e in cyc.edges) == [("resv_b0", "resv_b1"), ("resv_b1", "resv_b0")]
    assert not all(e.with_ctx for e in cyc.edges)
    text = lockdep.circular(cyc, rep)
    assert "  lock(reservation_ww_class_mutex:resv_b1);" in text
    assert "  lock(reservation_ww_class_mutex:resv_b0);" in text
    assert cyc.actual is not None


def test_acquire_context_that_ignores_edeadlk_and_keeps_its_locks():
    rep = report("bug-ww-ignore-edeadlk")
    [cyc] = [c for c in rep.cycles if c.level == "instance"]
    assert all(e.with_ctx for e in cyc.edges) and cyc.actual is not None
    assert "-EDEADLK is not backed off (RESV-W2)" in lockdep.circular(cyc, rep)
    keep = report("bug-ww-slow-holding")
    assert keep.slow_holding and "lock_slow while the acquire context still holds locks" in lockdep.render(keep)
    assert report("ttm-evict").clean  # the same transactions with the back-off are fine


def test_copy_from_user_under_the_reservation_lock():
    rep = report("bug-fault-under-resv")
    [cyc] = rep.cycles
    assert ("reservation_ww_class_mutex", "mmap_lock") in classes(cyc)
    text = lockdep.circular(cyc, rep)
    assert "Chain exists of:\n  mmap_lock --> reservation_ww_class_acquire --> reservation_ww_class_mutex" in text
    assert "mmap_lock must be taken before resv (RESV-L1)" in text


def test_self_import_mmap_takes_the_same_reservation_lock_twice():
    rep = report("bug-mmap-resv-v62")
    [e] = rep.recursive
    assert (e.src, e.dst) == ("resv", "resv") and not e.with_ctx
    text = lockdep.recursive(e, rep)
    assert "WARNING: possible recursive locking detected" in text
    assert "  lock(reservation_ww_class_mutex);\n  lock(reservation_ww_class_mutex);" in text
    assert e.actual is not None and "ACTUAL deadlock" in text
    assert e.trace.detail == "blocks here forever"  # the second acquisition never succeeds
