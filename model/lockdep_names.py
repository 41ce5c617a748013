"""The lock vocabulary of the kernel's lockdep priming, as models name it.

Action metadata (``Action.holds`` / ``Action.acquires``) names locks by
instance: a model's own locks (``resv``, ``resv_b1``, a driver's ``vm_lock``)
and the pseudo-locks below. Lock-order analyses map instances to lockdep
classes, the names a kernel splat prints.
"""

from __future__ import annotations

# pseudo-lock -> lockdep class name
PSEUDO_LOCKS: dict[str, str] = {
    "mmap_lock": "mmap_lock",  # a fault or copy_*_user (mm->mmap_lock)
    "ww_acquire": "reservation_ww_class_acquire",  # a ww acquire context (ww_acquire_init .. fini)
    "fs_reclaim": "fs_reclaim",  # an allocation that may enter direct reclaim (GFP_KERNEL/NOFS/NOIO)
    "i_mmap": "i_mmap_rwsem",  # a shrinker zapping PTEs (unmap_mapping_range)
    "mmu_notifier": "mmu_notifier_invalidate_range_start",  # inside an mmu notifier callback
    "dma_fence_map": "dma_fence_map",  # held for read in a signalling section; a fence wait takes it for write
}

# Pseudo-locks an action takes and releases at once when it *acquires* them
# (lockdep's lock_map_acquire + lock_map_release); as ``holds`` they are held.
TRANSIENT = frozenset({"fs_reclaim", "mmap_lock", "dma_fence_map", "mmu_notifier", "i_mmap"})


def work_map(work: str, timer: bool = False) -> str:
    """The lockdep map of a work item or timer: held while its callback runs, taken and released at once by
    flush_work / cancel_work_sync / timer_delete_sync (kernel/workqueue.c, kernel/time/timer.c), so a lock
    held across the flush that the callback takes is a cycle."""
    return f"(timer)({work})" if timer else f"(work_completion)({work})"


def transient(name: str) -> bool:
    """A pseudo-lock an acquisition takes and releases at once."""
    return name in TRANSIENT or name.startswith(("(work_completion)(", "(timer)("))

RESV_CLASS = "reservation_ww_class_mutex"

# The dependencies dma_resv_lockdep() records at boot: lockdep links each lock
# to the one taken right after it (CONFIG_MMU_NOTIFIER=y, as GPU kernels have it).
PRIMED_EDGES: tuple[tuple[str, str], ...] = (
    ("mmap_lock", "ww_acquire"),
    ("ww_acquire", "resv"),
    ("resv", "fs_reclaim"),
    ("fs_reclaim", "i_mmap"),
    ("fs_reclaim", "mmu_notifier"),
    ("mmu_notifier", "dma_fence_map"),
)

# Before v5.9 dma_resv_lockdep() ("dma_resv: prime lockdep annotations", "dma-resv: Also prime
# acquire ctx for lockdep", 2019) recorded mmap_lock -> acquire ctx -> resv -> fs_reclaim only; the
# i_mmap and mmu_notifier -> dma_fence_map links came with the 2020 fence annotations (v5.9).
PRIMED_EDGES_2019: tuple[tuple[str, str], ...] = PRIMED_EDGES[:3]

# RESV-L1 as one chain, outermost first (i_mmap and the mmu notifier are
# siblings under fs_reclaim; the chain puts them side by side), for per-state checks.
PRIMED_CHAIN: tuple[str, ...] = ("mmap_lock", "ww_acquire", "resv", "fs_reclaim", "i_mmap", "mmu_notifier",
                                 "dma_fence_map")

def reclaim_maps(gfp: str | None) -> tuple[str, ...]:
    """What lockdep records for an allocation (mm/page_alloc.c fs_reclaim_acquire()): with __GFP_FS the
    fs_reclaim map (the mmu-notifier map under it is primed); GFP_NOFS/NOIO may still reclaim, so only the
    mmu_notifier_invalidate_range_start map; GFP_ATOMIC enters no reclaim."""
    if gfp in (None, "GFP_ATOMIC", "GFP_NOWAIT"):  # no __GFP_DIRECT_RECLAIM: __need_reclaim() is false
        return ()
    return ("mmu_notifier",) if gfp in ("GFP_NOFS", "GFP_NOIO") else ("fs_reclaim",)


# SIG-3: what a fence signalling critical section must not take.
SIGNALLING_FORBIDDEN: dict[str, str] = {
    "resv": "taking a dma_resv lock inside a fence signalling section (SIG-3, DL-8)",
    "dma_fence_map": "waiting on a fence inside a fence signalling section (SIG-3, DL-12)",
    "fs_reclaim": "an allocation that may enter reclaim inside a fence signalling section (SIG-3, DL-3)",
    "mmap_lock": "a page fault or copy_*_user inside a fence signalling section (SIG-3)",
}

