"""Holding what you wait on: a syncobj found by handle, the fence a kill path chains a callback on.

A syncobj found by handle is held until its last use, waits included; the kill path takes its own
reference on the entity's last scheduled fence before chaining a callback on it, since the scheduler
may replace and drop that fence at any moment. Modeled on drm_syncobj_find_fence() with
WAIT_FOR_SUBMIT (drivers/gpu/drm/drm_syncobj.c) and drm_sched_entity_kill()
(drivers/gpu/drm/scheduler/sched_entity.c).

Threads: ``find_fence`` (looks up a syncobj and waits on it), ``destroy`` (SYNCOBJ_DESTROY),
``kill`` (chains a callback on the entity's last scheduled fence), ``sched`` (replaces and signals it).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "held-waits"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/drm_syncobj.c",
               title="references held across waits and callback registration")
    syncobj = d.kref("syncobj", live=True)
    handle = d.slot("syncobj_handle", syncobj, kind="idr", installed=True)
    table = d.spinlock("file->table_lock")
    last = d.fence("last_scheduled", live=True)
    entity = d.slot("entity->last_scheduled", last, kind="ptr", installed=True)
    elock = d.spinlock("entity->lock")

    @d.thread("find_fence", kernel="drm_syncobj_find_fence(WAIT_FOR_SUBMIT)")
    def find_fence(k):
        k.spin_lock(table)
        k.lookup(handle, fail="enoent", text="syncobj = drm_syncobj_find(file, handle)")
        k.spin_unlock(table)
        if bug == "syncobj-find-fence-uaf":
            k.kref_put(syncobj, "drm_syncobj_put(syncobj) (early)")
        k.use(syncobj, "drm_syncobj_fence_add_wait(syncobj, &wait)")
        k.use(syncobj, "drm_syncobj_remove_wait(syncobj, &wait)")
        if bug != "syncobj-find-fence-uaf":
            k.kref_put(syncobj, "drm_syncobj_put(syncobj)")
        k.ret(0)
        k.label("enoent")
        k.spin_unlock(table)

    @d.userspace("destroy", kernel="DRM_IOCTL_SYNCOBJ_DESTROY")
    def destroy(k):
        k.spin_lock(table)
        k.unpublish(handle, text="idr_remove(&file->syncobj_idr, handle)")
        k.spin_unlock(table)
        k.kref_put(syncobj, "drm_syncobj_put(syncobj)")

    def kill_cb(k):
        if bug != "sched-kill-no-ref":
            k.dma_fence_put(last)

    @d.thread("kill", kernel="drm_sched_entity_kill()")
    def kill(k):
        k.spin_lock(elock)
        if bug == "sched-kill-no-ref":
            k.peek(entity, fail="none", text="prev = entity->last_scheduled")
            k.spin_unlock(elock)
            k.dma_fence_add_callback(last, kill_cb, fail="done")
        else:
            k.lookup(entity, fail="none", text="prev = dma_fence_get(entity->last_scheduled)")
            k.spin_unlock(elock)
            k.dma_fence_add_callback(last, kill_cb, fail="signaled", pass_refs=(last,))
            k.ret()
            k.label("signaled")
            k.dma_fence_put(last)
        k.ret()
        k.label("none")
        k.spin_unlock(elock)
        k.label("done")

    @d.thread("sched", kernel="drm_sched_entity_pop_job(): replace last_scheduled")
    def sched(k):
        k.spin_lock(elock)
        k.unpublish(entity, text="entity->last_scheduled = next (the old one's reference comes with it)")
        k.spin_unlock(elock)
        k.dma_fence_signal(last)
        k.dma_fence_put(last)

    return d


DESIGN = make()

BUGS = {
    "syncobj-find-fence-uaf": Bug(
        NAME, "drm_syncobj_put() before waiting on the syncobj", "use-after-free", ("KREF-3", "KOBJ-1"),
        "a37eef63bc9e 'drm/syncobj: Fix use-after-free'", "reference dropped too early"),
    "sched-kill-no-ref": Bug(
        NAME, "chain the kill callback on entity->last_scheduled without a reference of its own",
        "use-after-free", ("KOBJ-1", "FENCE-6", "KREF-3"),
        "b3af84383e7a 'drm/scheduler: fix fence ref counting' (CVE-2022-49829)",
        "fence reference"),
}
