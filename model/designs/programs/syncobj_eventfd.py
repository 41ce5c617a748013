"""8c7c44be5767 "drm/syncobj: Fix syncobj leak in drm_syncobj_eventfd_ioctl" (v6.11-rc8).

drm_syncobj_eventfd_ioctl() (drivers/gpu/drm/drm_syncobj.c, since c7a472297169):

    syncobj = drm_syncobj_find(file_private, args->handle);      /* takes a reference */
    if (!syncobj)
            return -ENOENT;
    ev_fd_ctx = eventfd_ctx_fdget(args->fd);
    if (IS_ERR(ev_fd_ctx))
            return PTR_ERR(ev_fd_ctx);                             /* BUG: syncobj leaked */
    entry = kzalloc(sizeof(*entry), GFP_KERNEL);
    if (!entry) {
            eventfd_ctx_put(ev_fd_ctx);
            return -ENOMEM;                                        /* BUG: syncobj leaked */
    }
    entry->syncobj = syncobj; entry->ev_fd_ctx = ev_fd_ctx; ...
    drm_syncobj_add_eventfd(syncobj, entry);                       /* list_add under syncobj->lock */
    drm_syncobj_put(syncobj);
    return 0;

The fix routes both error returns through err_kzalloc/err_fdget labels that drm_syncobj_put().
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "syncobj-eventfd"


def _program(bug: bool, name: str) -> Driver:
    d = Driver(name, follows="drivers/gpu/drm/drm_syncobj.c")
    job = d.fence("job_fence", live=True, owners=("gpu",))
    so = d.syncobj("syncobj", (job,), fence=None)
    d.gpu("gpu", signals=job)
    evfile = d.kref("eventfd_ctx", live=True, kernel="struct eventfd_ctx")
    efd = d.slot("args->fd", evfile, kind="fd", installed=True)
    entry = d.mem("entry", kernel="struct syncobj_eventfd_entry")
    ev_list = d.slot("syncobj->ev_fd_list", entry, kind="list", lock=so.lock, of=so)
    entry_ctx = d.pointer("entry->ev_fd_ctx", (evfile,), of=entry)

    @d.thread("ioctl", kernel="DRM_IOCTL_SYNCOBJ_EVENTFD: drm_syncobj_eventfd_ioctl()")
    def ioctl(k):
        k.drm_syncobj_find(so, fail="enoent")
        k.lookup(efd, fail="err_fdget", text="ev_fd_ctx = eventfd_ctx_fdget(args->fd)")
        k.kzalloc(entry, fail="err_kzalloc", text="entry = kzalloc(sizeof(*entry), GFP_KERNEL)")
        k.ptr_store(entry_ctx, evfile, text="entry->ev_fd_ctx = ev_fd_ctx")
        k.spin_lock(so.lock, text="drm_syncobj_add_eventfd(): spin_lock(&syncobj->lock)")
        k.publish(ev_list, "list_add_tail(&entry->node, &syncobj->ev_fd_list)")
        k.spin_unlock(so.lock, text="spin_unlock(&syncobj->lock)")
        k.drm_syncobj_put(so)
        k.ret(0)
        k.label("err_kzalloc")
        k.kref_put(evfile, "eventfd_ctx_put(ev_fd_ctx)")
        if bug:
            k.ret("-ENOMEM")
        k.label("err_fdget")
        if bug:
            k.ret("-EBADF")
        k.drm_syncobj_put(so)
        k.label("enoent")

    @d.userspace("close_eventfd", kernel="close(eventfd)")
    def close_eventfd(k):
        # k.close(efd) adds a "-> not found" branch no single closer reaches (reported as vacuous)
        k.unpublish(efd, text="close(eventfd): close_fd()")
        k.kref_put(evfile, "fput() -> eventfd_release() -> eventfd_ctx_put()")

    return d


def make(bug: str | None = None) -> Driver:
    return _program(bug is not None, NAME if bug is None else f"bug-{bug}")


DESIGN = make()

BUGS = {
    "syncobj-eventfd-leak": Bug(
        NAME, 'the eventfd_ctx_fdget() and kzalloc() error returns keep the syncobj reference of drm_syncobj_find()',
        'kref-leak', ('KREF-4',),
        "8c7c44be5767 'drm/syncobj: Fix syncobj leak in drm_syncobj_eventfd_ioctl'", 'error path leak'),
}
