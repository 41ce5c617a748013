"""Rules of kernel objects, checked wherever a driver program uses those objects.

No property is written per driver: every call of a driver program registers
the condition under which it would break a rule (``model.driver.code``),
and each rule below is "no thread is ever about to make such a call" (or,
for end-state rules, "no final state is like this"). A rule appears in a
driver's check only if some call of the driver can break it, so no property
is checked vacuously. The rule ids (KOBJ-, KREF-, CTX-, LOCKDEP-) are
described in ``kernel_rules.md``; the dma-buf ones in ``rules.md``.
"""

from __future__ import annotations

from dmabuf_check.model.driver.compile import DriverInfo, info_of
from dmabuf_check.model.expr import any_of, lift
from dmabuf_check.model.lang import Model
from dmabuf_check.properties import waitfor
from dmabuf_check.properties.base import DEADLOCK, INVARIANT, LIVENESS, Property
from dmabuf_check.properties.catalog.base import Rule


def ObjectRule(id: str, meaning: str, rules: tuple[str, ...], source: str, kind: str = INVARIANT) -> Rule:  # noqa: N802
    """A kernel-object rule: a catalog ``Rule`` whose predicate comes from the calls of a driver program."""
    return Rule(id, meaning, rules, source, kind=kind)


RULES: tuple[ObjectRule, ...] = (
    ObjectRule("use-after-free", "no call dereferences an object whose memory was freed", ("KOBJ-1", "REF-6"),
               "KASAN 'slab-use-after-free'; Documentation/core-api/kref.rst"),
    ObjectRule("dma-after-free", "no memory a device job still accesses (its fence has not signaled) is freed",
               ("MIG-6", "DYN-9"), "enum dma_resv_usage kernel-doc; ttm_bo_release(): the delayed delete waits for "
               "the resv's fences before the backing store goes"),
    ObjectRule("dma-before-fence", "a device job starts on a buffer only after the fences of the work it depends on "
               "signaled", ("SYNC-3", "MAP-7", "DYN-9"), "struct dma_buf resv doc (IMPORTANT); enum dma_resv_usage; "
               "dma_buf_map_attachment() waits for KERNEL fences"),
    ObjectRule("use-before-init", "no thread but its creator uses an object before it is set up (published too early)",
               ("KOBJ-2",), "Documentation/core-api/kref.rst; fd_install() kernel-doc (install last)"),
    ObjectRule("null-deref", "no call dereferences a pointer that is NULL (not set yet, or cleared)", ("KOBJ-5",),
               "arch/x86/mm/fault.c page_fault_oops() 'BUG: kernel NULL pointer dereference'"),
    ObjectRule("double-free", "no object's memory is freed twice", ("KOBJ-3",), "KASAN 'double-free'; mm/slub.c"),
    ObjectRule("list-del-unlisted", "an entry is deleted from a list only while it is on it", ("KOBJ-4",),
               "lib/list_debug.c __list_del_entry_valid() 'list_del corruption'"),
    ObjectRule("kref-get-zero", "no reference is taken on an object whose count already dropped to zero",
               ("KREF-2", "REF-14"), "lib/refcount.c 'refcount_t: addition on 0; use-after-free'"),
    ObjectRule("kref-underflow", "no reference is dropped from a count that is already zero", ("KREF-2",),
               "lib/refcount.c 'refcount_t: underflow; use-after-free'"),
    ObjectRule("kref-put-noref", "no thread drops or hands off a reference it does not hold", ("KREF-3", "REF-5"),
               "Documentation/core-api/kref.rst rules 1-2"),
    ObjectRule("kref-leak", "no thread or callback ends holding a reference it took, and none is overwritten",
               ("KREF-4",), "Documentation/core-api/kref.rst; kmemleak"),
    ObjectRule("kref-overflow", "no object gets more references than the model tracks (a get in a loop without a put)",
               ("KREF-4",), "lib/refcount.c 'refcount_t: saturated'"),
    ObjectRule("sleep-in-atomic", "nothing that may sleep runs in atomic context (spinlock held, IRQs off, IRQ "
               "context, RCU read side, a fence callback)", ("CTX-1", "FENCE-6"),
               "kernel/sched/core.c __might_sleep() 'BUG: sleeping function called from invalid context'"),
    ObjectRule("unlock-not-held", "no thread releases a lock it does not hold", ("LOCKDEP-1",),
               "kernel/locking/lockdep.c 'WARNING: bad unlock balance detected!'"),
    ObjectRule("lock-held-at-exit", "no thread returns holding a lock", ("LOCKDEP-2",),
               "kernel/locking/lockdep.c 'lock held when returning to user space!'"),
    ObjectRule("lockdep-assert-held", "every lockdep_assert_held() finds its lock held by the caller, and state a "
               "lock protects (a slot declared with lock=) is only touched with it held", ("LOCKDEP-3",),
               "include/linux/lockdep.h lockdep_assert_held()"),
    ObjectRule("irq-inconsistent-lock", "no lock is taken both in IRQ context and elsewhere with interrupts enabled",
               ("LOCKDEP-4", "FENCE-6"), "kernel/locking/lockdep.c 'inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage'"),
    ObjectRule("fence-error-after-signal", "an error is set on a fence only before it signals", ("FENCE-2",),
               "include/linux/dma-fence.h dma_fence_set_error() WARN_ON"),
    ObjectRule("fence-cb-twice", "a dma_fence_cb is on at most one fence at a time", ("FENCE-6",),
               "drivers/dma-buf/dma-fence.c dma_fence_add_callback()"),
    ObjectRule("fence-release-pending-cb", "the last reference of an unsignaled fence does not go while a callback "
               "is pending on it", ("FENCE-13",), "drivers/dma-buf/dma-fence.c dma_fence_release()"),
    ObjectRule("fence-container-nesting", "no fence container (dma_fence_array, dma_fence_chain) is built around "
               "another: arrays hold plain fences, a chain node a plain fence after its prev", ("CONT-2", "CONT-3"),
               "drivers/dma-buf/dma-fence-array.c dma_fence_array_init() WARN_ON; dma-fence-chain.c"),
    ObjectRule("fence-signals", "when every thread is done, every live fence has signaled (no fence is left "
               "unsignaled on an error path)", ("SIG-1", "MEM-3", "DL-10"),
               "dma-fence.c DOC 'Indefinite DMA Fences'; Documentation/driver-api/dma-buf.rst"),
    ObjectRule("resv-held", "fences are reserved and added, and attachments mapped, only with the resv lock held",
               ("RESV-A1", "MAP-2", "LOCK-1"), "drivers/dma-buf/dma-resv.c dma_resv_assert_held()"),
    ObjectRule("resv-reserve-before-add", "a fence is added to a resv only into a slot reserved in the same lock hold",
               ("RESV-A1", "DL-17"), "drivers/dma-buf/dma-resv.c dma_resv_add_fence() (BUG_ON with debug)"),
    ObjectRule("map-after-attach", "an attachment is mapped only while attached", ("MAP-1", "MAP-13"),
               "drivers/dma-buf/dma-buf.c dma_buf_map_attachment()"),
    ObjectRule("detach-after-unmap", "an attachment is detached once, only after it is unmapped", ("ATT-7",),
               "drivers/dma-buf/dma-buf.c dma_buf_detach() (kfree(attach): a second detach is a use-after-free)"),
    ObjectRule("unmap-after-map", "an attachment is unmapped only while it is mapped, once per map", ("MAP-1",),
               "drivers/dma-buf/dma-buf.c dma_buf_unmap_attachment() kernel-doc (the sg_table the map returned)"),
    ObjectRule("attach-holds-ref", "an importer holds a dma-buf reference for as long as it is attached", ("REF-10",),
               "dma-buf.c DOC 'dma buf device access'; drm_prime.c lifetime DOC"),
    ObjectRule("dma-through-live-mapping", "a device accesses a dma-buf only through a mapping that is mapped and not "
               "invalidated by a move", ("MAP-1", "DYN-7", "MIG-5"),
               "dma-buf.c DOC 'dynamic importer'; dma_buf_attach_ops.move_notify kernel-doc"),
    ObjectRule("cpu-access-bracketed", "the CPU touches a dma-buf only between begin_cpu_access and end_cpu_access "
               "(or through a vmap), and every end has its begin", ("CPU-1",),
               "dma-buf.c DOC 'cpu access'; dma_buf_begin_cpu_access() kernel-doc"),
    ObjectRule("vunmap-after-vmap", "every dma_buf_vunmap balances an earlier dma_buf_vmap", ("CPU-7",),
               "drivers/dma-buf/dma-buf.c dma_buf_vunmap() (WARN_ON(!dmabuf->vmapping_counter))"),
    ObjectRule("pin-balance", "every dma_buf_unpin balances an earlier dma_buf_pin of the same attachment, and no "
               "attachment is detached still pinned", ("DYN-4", "ATT-7"),
               "include/linux/dma-buf.h dma_buf_ops.pin/unpin; drivers/dma-buf/dma-buf.c dma_buf_unpin()"),
    ObjectRule("release-after-detach", "a dma-buf is released only after every attachment is gone", ("REF-9",),
               "drivers/dma-buf/dma-buf.c dma_buf_release() WARN_ON"),
    ObjectRule("ww-backoff", "after -EDEADLK a ww transaction drops every lock before dma_resv_lock_slow",
               ("RESV-W2", "DL-5"), "dma_resv_lock() kernel-doc; Documentation/locking/ww-mutex-design.rst"),
    ObjectRule("ww-acquire-ctx", "a ww acquire context is initialised before its first lock and finished only "
               "after its last unlock, one per thread", ("RESV-W5",), "Documentation/locking/ww-mutex-design.rst"),
    ObjectRule("sig-no-alloc", "a fence signalling path does not allocate memory that may enter reclaim",
               ("SIG-3", "MEM-1", "DL-3"), "dma-fence.c DOC 'fence cross-driver contract'"),
    ObjectRule("sig-no-fence-wait", "a fence signalling path does not wait on another fence", ("SIG-3", "DL-12"),
               "dma-fence.c __dma_fence_might_wait(); DOC 'fence signalling annotation'"),
    ObjectRule("sig-no-resv-lock", "a fence signalling path takes no dma_resv lock", ("SIG-3", "DL-8"),
               "dma-fence.c DOC 'fence cross-driver contract'"),
    ObjectRule("dma-api", "a DMA mapping is synced and unmapped only while mapped, unmapped once with its own "
               "direction, and none is left mapped at the end", ("DMA-1",),
               "kernel/dma/debug.c (CONFIG_DMA_API_DEBUG) check_unmap(), check_sync(), dma_debug_device_change()"),
    ObjectRule("driver-assert", "no WARN_ON/BUG_ON of the driver fires, and no counter of the driver runs out of its "
               "range", ("DRV-1",), "include/asm-generic/bug.h WARN_ON(), BUG_ON()"),
    ObjectRule("no-fence-wait-deadlock", "no cycle in the wait-for graph (waiter -> fence or lock -> holder or "
               "signaller)", ("DL-1", "DL-13"), "dma-fence.c DOC 'fence cross-driver contract'"),
    ObjectRule("no-stuck-state", "every state where no thread can move has every thread returned",
               ("DL-1", "LOCKDEP-5"), "kernel/hung_task.c 'task blocked for more than 120 seconds'", kind=DEADLOCK),
    ObjectRule("fence-eventually-signals", "every live fence eventually signals (or is freed unpublished), "
               "under weak fairness of the kernel threads", ("FENCE-LIVE-1", "MEM-3", "DL-10"),
               "dma-fence.c DOC 'Indefinite DMA Fences'; Documentation/driver-api/dma-buf.rst", kind=LIVENESS),
)

BY_ID = {r.id: r for r in RULES}


def _predicate(rule_id: str):
    def build(m: Model):
        info = info_of(m)
        bad = [b for b, _why in info.checks.get(rule_id, [])]
        return ~any_of(bad) if bad else lift(True)
    return build


def _fences_signal(m: Model):
    return [(p, q) for _name, p, q in info_of(m).liveness]


def for_driver(model: Model, info: DriverInfo) -> tuple[Property, ...]:
    """The rules some call of this driver can break, in catalog order, plus its deadlock checks."""
    out = []
    for r in RULES:
        if r.id == "no-stuck-state":
            out.append(Property(r.id, r.meaning, r.rules, r.source, kind=DEADLOCK))
        elif r.kind == LIVENESS:
            if info.liveness:  # checked only with --liveness (it needs the whole state graph)
                out.append(Property(r.id, r.meaning, r.rules, r.source, kind=LIVENESS, leads_to=_fences_signal,
                                    fairness=info.fair))
        elif r.id == "no-fence-wait-deadlock":
            if model.locks:
                out.append(Property(r.id, r.meaning, r.rules, r.source, build=waitfor.no_cycle))
        elif info.checks.get(r.id):
            out.append(Property(r.id, r.meaning, r.rules, r.source, build=_predicate(r.id)))
    return tuple(out)
