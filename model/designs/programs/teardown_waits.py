"""Waits that never end: a teardown waiting for work under the lock the work takes, a timeline dying
with its points unsignaled, a waiter never queued for the point it waits on.

A release path may not wait (cancel_delayed_work_sync) for a work item while holding the lock that
work item takes; a timeline going away signals every point still on it (with an error), or whoever
waits on one waits forever; and a waiter that sleeps until a point is submitted must be on the
list the submitter wakes. Modeled on amdgpu_userq_destroy() (drivers/gpu/drm/amd/amdgpu/
amdgpu_userq.c), sw_sync_debugfs_release() (drivers/dma-buf/sw_sync.c) and
drm_syncobj_array_wait_timeout()/drm_syncobj_add_point() (drivers/gpu/drm/drm_syncobj.c).

Threads: ``userq_ioctl`` (a signal on a user queue, which schedules hang_detect_work, then freeing
the queue), ``hang_detect_work``; ``tl_close`` (closing the sw_sync timeline fd), ``pt_waiter`` (waits
on a point of that timeline), ``point_submit`` (DRM_IOCTL_SYNCOBJ_TRANSFER of that point into a
timeline syncobj: drm_syncobj_add_point()), ``avail_wait`` (SYNCOBJ_TIMELINE_WAIT with WAIT_AVAILABLE).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "teardown-waits"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/dma-buf/sw_sync.c",
               title="teardown and submission paths wake or cancel what waits on them")
    _userq(d, bug)
    _timeline(d, bug)
    return d


def _userq(d: Driver, bug: str | None) -> None:
    """amdgpu user queues: the queue's kref release cancels hang_detect_work, which takes userq_mutex."""
    userq_mutex = d.mutex("uq_mgr->userq_mutex")

    def amdgpu_userq_destroy(k):  # amdgpu_userq_kref_destroy() -> amdgpu_userq_destroy()
        if bug == "userq-cancel-hang-detect-locked":
            k.mutex_lock(userq_mutex)
            k.flush_work("hang_detect_work", cancel=True, text="cancel_delayed_work_sync(&queue->hang_detect_work)")
        else:
            k.flush_work("hang_detect_work", cancel=True, text="cancel_delayed_work_sync(&queue->hang_detect_work)")
            k.mutex_lock(userq_mutex)
        k.use(queue, "queue->hang_detect_fence = NULL; amdgpu_userq_cleanup(queue)")
        k.mutex_unlock(userq_mutex)

    queue = d.kref("queue", live=True, release=amdgpu_userq_destroy, kernel="struct amdgpu_usermode_queue")
    xa = d.slot("uq_mgr->userq_xa", queue, kind="xarray", installed=True, lock=userq_mutex)

    @d.work("hang_detect_work", kernel="amdgpu_userq_hang_detect_work()")
    def hang_detect_work(k):
        k.mutex_lock(userq_mutex)
        k.use(queue, "amdgpu_userq_detect_and_reset_queues(uq_mgr)")
        k.mutex_unlock(userq_mutex)

    @d.thread("userq_ioctl", kernel="AMDGPU_USERQ_SIGNAL on the queue, then AMDGPU_USERQ_OP_FREE")
    def userq_ioctl(k):
        k.mutex_lock(userq_mutex)  # amdgpu_userq_signal_ioctl()
        k.kref_get(queue, "queue = amdgpu_userq_get(uq_mgr, queue_id): xa_load(); kref_get()")
        k.mutex_unlock(userq_mutex)
        k.queue_work("hang_detect_work", text="amdgpu_userq_start_hang_detect_work(): schedule_delayed_work()")
        k.kref_put(queue, "amdgpu_userq_put(queue)")
        k.mutex_lock(userq_mutex)  # the free ioctl
        k.unpublish(xa, text="queue = xa_erase(&uq_mgr->userq_xa, queue_id)")
        k.mutex_unlock(userq_mutex)
        k.kref_put(queue, "amdgpu_userq_put(queue)")


def _timeline(d: Driver, bug: str | None) -> None:
    """A sw_sync timeline point, also transferred into a timeline syncobj as its next point."""
    obj_lock = d.spinlock("obj->lock")
    pt = d.fence("sync_pt", lock=obj_lock, live=True, owners=("pt_waiter", "point_submit"))
    pt_list = d.slot("obj->pt_list", pt, kind="list", installed=True, holds_ref=False, lock=obj_lock)

    def sw_sync_debugfs_release(k):  # the timeline file's release
        if bug != "sw-sync-dying-timeline":  # signal every point still on the dying timeline
            k.spin_lock_irq(obj_lock)
            k.unpublish(pt_list, fail="empty", text="list_for_each_entry_safe(pt, next, &obj->pt_list, link)")
            k.dma_fence_set_error(pt, "-ENOENT")
            k.dma_fence_signal_locked(pt)
            k.label("empty")
            k.spin_unlock_irq(obj_lock)
        # sync_timeline_put(obj)

    tl = d.kref("timeline_file", kind="file", live=True, release=sw_sync_debugfs_release,
                kernel="struct file of /sys/kernel/debug/sync/sw_sync")
    fd = d.slot("timeline_fd", tl, kind="fd", installed=True)

    @d.thread("tl_close", kernel="close(timeline fd): the last fput runs sw_sync_debugfs_release()")
    def tl_close(k):
        k.unpublish(fd, text="close_fd(timeline_fd)")
        k.fput(tl, "fput(timeline_file)")

    @d.thread("pt_waiter", kernel="a consumer waiting on the point's sync_file")
    def pt_waiter(k):
        k.dma_fence_wait(pt)
        k.dma_fence_put(pt)

    lock = d.spinlock("syncobj->lock")
    current = d.slot("syncobj->fence", pt, kind="ptr")
    entry = d.slot("entry->fence", pt, kind="ptr")
    on_list = d.field("wait->node", kernel="wait->node on syncobj->cb_list")
    task = d.waitqueue("wait->task")

    def wait_syncobj_func(k):  # syncobj_wait_syncobj_func(), under syncobj->lock
        k.dma_fence_get(pt, "fence = dma_fence_get(syncobj->fence)")
        k.publish(entry, "wait->fence = fence")
        k.wake_up(task, "wake_up_process(wait->task)")
        k.set(on_list, 0, "list_del_init(&wait->node)")

    @d.thread("point_submit", kernel="DRM_IOCTL_SYNCOBJ_TRANSFER to a timeline point: drm_syncobj_add_point()")
    def point_submit(k):
        k.spin_lock(lock)
        k.publish(current, "rcu_assign_pointer(syncobj->fence, &chain->base)")
        with k.if_(on_list.is_set, "list_for_each_entry_safe(wait_cur, wait_tmp, &syncobj->cb_list, node)"):
            k.call(wait_syncobj_func)
        k.spin_unlock(lock)

    @d.thread("avail_wait", kernel="DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT(WAIT_AVAILABLE): "
              "drm_syncobj_array_wait_timeout()")
    def avail_wait(k):
        k.lookup(current, fail="not_yet", text="fence = drm_syncobj_fence_get(syncobj)")
        k.dma_fence_put(pt, "dma_fence_put(entries[0].fence) (available: done)")
        k.ret(0)
        k.label("not_yet")  # !fence && (flags & (WAIT_FOR_SUBMIT | WAIT_AVAILABLE)): continue
        if bug != "syncobj-wait-available-no-wait":  # if (flags & (WAIT_FOR_SUBMIT | WAIT_AVAILABLE))
            k.spin_lock(lock)  # drm_syncobj_fence_add_wait()
            k.lookup(current, fail="add", text="fence = dma_fence_get(syncobj->fence) (again, under the lock)")
            k.publish(entry, "wait->fence = fence")
            k.spin_unlock(lock)
            k.goto("wait")
            k.label("add")
            k.set(on_list, 1, "list_add_tail(&wait->node, &syncobj->cb_list)")
            k.spin_unlock(lock)
        k.label("wait")
        k.wait_event(task, entry.set, text="do { set_current_state(TASK_INTERRUPTIBLE); if (entries[0].fence) "
                     "break; schedule_timeout(timeout) } while (1)")
        k.unpublish(entry, text="fence = entries[0].fence")
        k.dma_fence_put(pt, "dma_fence_put(entries[0].fence)")


DESIGN = make()

BUGS = {
    "userq-cancel-hang-detect-locked": Bug(
        NAME, "amdgpu_userq_destroy() calls cancel_delayed_work_sync(&queue->hang_detect_work) with userq_mutex "
        "held; the work takes userq_mutex", "no-fence-wait-deadlock", ("DL-1", "DL-13"),
        "f802f7b0bc09 'drm/amdgpu/userq: unlock cancel_delayed_work_sync for hang_detect_work'",
        "lock held across a work flush"),
    "sw-sync-dying-timeline": Bug(
        NAME, "the timeline's release drops it without signaling the points still on pt_list", "no-stuck-state",
        ("DL-1",), "ea4d5a270b57 'dma-buf/sw_sync: force signal all unsignaled fences on dying timeline'",
        "fence order and signalling"),
    "syncobj-wait-available-no-wait": Bug(
        NAME, "a WAIT_AVAILABLE wait never calls drm_syncobj_fence_add_wait(): drm_syncobj_add_point() cannot wake it",
        "no-stuck-state", ("DL-1",),
        "3c43177ffb54 'drm/syncobj: call drm_syncobj_fence_add_wait when WAIT_AVAILABLE flag is set'",
        "lost wakeup"),
}
FIXED = ("cancel the work before taking the lock it takes; signal (with -ENOENT) every point of a dying timeline; "
         "queue a WAIT_AVAILABLE waiter on cb_list like a WAIT_FOR_SUBMIT one")
