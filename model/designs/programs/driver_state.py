"""Check-then-act on driver state: a check and the action it guards in one critical section, and
completions that let every later waiter through.

A seal check and the long-term pin it allows must not be separated by a window in which the memfd
can be sealed (the sealing path takes the inode lock exclusively); a uniqueness check and the
list_add it allows belong to one heap_list_lock section; a completion that signals "the entity is
idle" to more than one wait uses complete_all(). Modeled on udmabuf_create()'s check_memfd_seals()
and udmabuf_pin_folios() (drivers/dma-buf/udmabuf.c) against memfd_add_seals() (mm/memfd.c),
dma_heap_add() (drivers/dma-buf/dma-heap.c) and drm_sched_entity_kill() with entity_idle
(drivers/gpu/drm/scheduler/sched_entity.c).

Threads: ``create`` (UDMABUF_CREATE: check the seals, pin the folios), ``seal`` (fcntl F_ADD_SEALS
F_SEAL_WRITE), ``add_a``/``add_b`` (two dma_heap_add() of one name), ``sched`` (the scheduler
completes entity_idle once), ``destroy`` (drm_sched_entity_destroy: flush, then fini, each killing
and waiting for idle).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "driver-state"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/dma-buf/udmabuf.c",
               title="checks and the actions they allow in one critical section; completions for every waiter")
    inode = d.mutex("memfd->f_inode->i_rwsem")
    sealed = d.field("memfd->seals_write", kernel="memfd seals")
    pinned = d.field("ubuf->pinned", kernel="udmabuf's pinned folios")
    d.invariant(lambda: ~(sealed.is_set & pinned.is_set), "a write-sealed memfd has no long-term writable pins")

    @d.thread("create", kernel="udmabuf_create()")
    def create(k):
        if bug != "udmabuf-seal-check-race":
            k.mutex_lock(inode)  # inode_lock_shared(file_inode(memfd))
        k.goto_if(sealed.is_set, "einval", "check_memfd_seals(memfd): F_SEAL_WRITE?")
        k.set(pinned, 1, "udmabuf_pin_folios(): pin_user_pages / memfd_pin_folios")
        k.label("einval")
        if bug != "udmabuf-seal-check-race":
            k.mutex_unlock(inode)

    @d.userspace("seal", kernel="fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE)")
    def seal(k):
        k.mutex_lock(inode)  # memfd_add_seals(): inode_lock(inode)
        k.goto_if(pinned.is_set, "ebusy", "memfd_wait_for_pins(): pinned pages -> -EBUSY")
        k.set(sealed, 1, "file_seals |= F_SEAL_WRITE")
        k.label("ebusy")
        k.mutex_unlock(inode)

    heaps = d.mutex("heap_list_lock")
    named = d.field("heaps_named_system", max_value=2)
    d.invariant(lambda: named.value <= 1, "heap names are unique")

    def heap_add(k):
        k.mutex_lock(heaps)
        k.goto_if(named.is_set, "exists", "list_for_each_entry(h, &heap_list): strcmp(h->name, name) == 0")
        if bug == "dma-heap-add-race":
            k.mutex_unlock(heaps)
            k.might_sleep("device_create(dma_heap_class, ...)")
            k.mutex_lock(heaps)
        k.inc(named, "list_add(&heap->list, &heap_list)")
        k.label("exists")
        k.mutex_unlock(heaps)

    d.thread("add_a", kernel="dma_heap_add()")(heap_add)
    d.thread("add_b", kernel="dma_heap_add()")(heap_add)

    idle = d.completion("entity->entity_idle")

    @d.thread("sched", kernel="drm_sched_main(): the entity goes idle")
    def sched(k):
        if bug == "sched-entity-idle-complete-once":
            k.complete(idle)
        else:
            k.complete_all(idle)

    @d.thread("destroy", kernel="drm_sched_entity_destroy(): flush() then fini()")
    def destroy(k):
        k.wait_for_completion(idle)  # drm_sched_entity_flush() -> drm_sched_entity_kill()
        k.wait_for_completion(idle)  # drm_sched_entity_fini() -> drm_sched_entity_kill()

    return d


DESIGN = make()

BUGS = {
    "udmabuf-seal-check-race": Bug(
        NAME, "check the memfd seals and pin the folios without the inode lock", "driver-assert", ("DRV-1",),
        "9cb189a88273 'udmabuf: fix racy memfd sealing check'", "check-then-act race"),
    "dma-heap-add-race": Bug(
        NAME, "drop heap_list_lock between the name check and list_add", "driver-assert", ("DRV-1",),
        "432e25902b96 'dma-buf: fix racing conflict of dma_heap_add()'", "check-then-act race"),
    "sched-entity-idle-complete-once": Bug(
        NAME, "complete(&entity->entity_idle) for two waits", "no-stuck-state", ("LOCKDEP-5", "DL-1"),
        "9f1ecfc5dcb4 'drm/scheduler: Fix lockup in drm_sched_entity_kill()'", "lost wakeup"),
}
