"""drm_syncobj's calls (drivers/gpu/drm/drm_syncobj.c) as programs over the syncobj's kernel objects.

A syncobj (``Driver.syncobj``) is a refcounted object with a fence pointer, a spinlock, the list of
WAIT_FOR_SUBMIT waiters and a handle in the file's idr. Its calls are written here with the calls of
``model.driver.code`` in the order the kernel makes them (v5.11+, after a37eef63bc9e), so a driver that
calls ``k.drm_syncobj_find_fence`` is checked against what that function really does, and a program that
writes its own variant of one (the bug) uses the same primitives. The fence calls return a ``Value``: the
fence the syncobj held when it was read.
"""

from __future__ import annotations

from typing import Any

from dmabuf_check.model.driver.objects import Fence, Syncobj, Value
from dmabuf_check.model.types import ModelError


class SyncobjCalls:
    """The drm_syncobj calls of the builder ``k`` (mixed into ``model.driver.code.Code``)."""

    def _syncobj(self: Any, so: object, *, handle: bool = False) -> Syncobj:
        if not isinstance(so, Syncobj) or so not in self.b.objects:
            raise ModelError(f"thread {self.thread}: {getattr(so, 'name', so)!r} is not a syncobj of this driver "
                             "(declare it with d.syncobj(...))")
        if handle and so.handle is None:
            raise ModelError(f"thread {self.thread}: {so.name} has no handle (d.syncobj(..., handle=False)): "
                             "nothing to look up or destroy")
        return so

    def drm_syncobj_find(self: Any, so: Syncobj, *, fail: str) -> None:
        """``syncobj = drm_syncobj_find(file_private, handle); if (!syncobj) goto fail;``: the handle's syncobj
        with a reference, under the file's table lock (-ENOENT once userspace destroyed the handle)."""
        so = self._syncobj(so, handle=True)
        self._under(lambda: self.spin_lock(so.table), lambda: self.spin_unlock(so.table),
                    lambda err: self.lookup(so.handle, fail=err, text=f"{so.name} = idr_find(&file_private->"
                                            "syncobj_idr, handle); drm_syncobj_get()"), fail)

    def drm_syncobj_get(self: Any, so: Syncobj) -> None:
        self.kref_get(self._syncobj(so), f"drm_syncobj_get({so.name})")

    def drm_syncobj_put(self: Any, so: Syncobj) -> None:
        self.kref_put(self._syncobj(so), f"drm_syncobj_put({so.name})")

    def drm_syncobj_fence_get(self: Any, so: Syncobj, *, var: str = "fence") -> Value:
        """``fence = drm_syncobj_fence_get(syncobj)``: under RCU, a reference to the fence it holds (or NULL)."""
        so = self._syncobj(so)
        self.rcu_read_lock()
        fence = self.dma_fence_get_rcu_safe(so.fence, var=var)
        self.rcu_read_unlock()
        return fence

    def drm_syncobj_replace_fence(self: Any, so: Syncobj, fence: Fence | Value | None) -> None:
        """``drm_syncobj_replace_fence(syncobj, fence)``: a reference to ``fence`` (NULL: none) replaces the old
        one under the syncobj lock, which wakes the WAIT_FOR_SUBMIT waiters; the old fence is put after the
        unlock."""
        so = self._syncobj(so)
        what = getattr(fence, "name", "NULL")
        if fence is not None:
            self.dma_fence_get(fence, text=f"drm_syncobj_replace_fence({so.name}, {what}): dma_fence_get(fence)")
        self.spin_lock(so.lock)
        old = self.ptr_xchg(so.fence, fence, var="old_fence",
                            text=f"old_fence = {so.name}->fence; rcu_assign_pointer({so.name}->fence, {what})")
        self.wake_up(so.cb_list, f"list_for_each_entry_safe(cur, tmp, &{so.name}->cb_list, node) "
                     "syncobj_fence_func(syncobj, cur)")
        self.spin_unlock(so.lock)
        self.dma_fence_put(old, text="dma_fence_put(old_fence)")

    def drm_syncobj_find_fence(self: Any, so: Syncobj, *, fail: str, wait_for_submit: bool = False,
                               var: str = "fence") -> Value:
        """``ret = drm_syncobj_find_fence(file_private, handle, 0, flags, &fence); if (ret) goto fail;``: the
        handle's syncobj (-ENOENT), a reference to its fence; none installed is -EINVAL, unless
        ``wait_for_submit`` (DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT): then it queues on the syncobj and sleeps
        until a fence is installed (-ERESTARTSYS on a signal), holding its syncobj reference until it has
        taken itself off the list (a37eef63bc9e)."""
        so = self._syncobj(so, handle=True)
        out, err = self._fresh("out"), self._fresh("err")
        self.drm_syncobj_find(so, fail=fail)
        fence = self.drm_syncobj_fence_get(so, var=var)
        self.goto_if(~fence.null, out, text=f"if (*{var}) goto out")
        if wait_for_submit:
            self.use(so, f"drm_syncobj_fence_add_wait({so.name}, &wait): spin_lock(&{so.name}->lock); "
                     f"list_add_tail(&wait.node, &{so.name}->cb_list)")
            woken = self._fresh("woken")
            self.wait_event(so.cb_list, ~so.fence.points_to(None), intr=True, fail=err,
                            text="wait until syncobj_fence_func() sets wait.fence")
            self.goto(woken)
            self.label(err)
            self.use(so, f"drm_syncobj_remove_wait({so.name}, &wait) (-ERESTARTSYS)")
            self.drm_syncobj_put(so)
            self.goto(fail, "return -ERESTARTSYS")
            self.label(woken)
            waited = self.drm_syncobj_fence_get(so, var=var)
            fence.also_set_by(waited)  # *fence = wait.fence: the same variable
            self.use(so, f"drm_syncobj_remove_wait({so.name}, &wait): spin_lock(&{so.name}->lock); "
                     "list_del_init(&wait.node)")
            self.goto(out)
        else:
            self.drm_syncobj_put(so)
            self.goto(fail, "return -EINVAL (no fence)")
        self.label(out)
        self.drm_syncobj_put(so)
        return fence

    def drm_syncobj_destroy(self: Any, so: Syncobj, *, fail: str | None = None) -> None:
        """DRM_IOCTL_SYNCOBJ_DESTROY: the handle leaves the idr under the table lock and its reference is put
        (``fail``: -EINVAL when it is already gone; without it the handle is known to be there)."""
        so = self._syncobj(so, handle=True)
        self._under(lambda: self.spin_lock(so.table), lambda: self.spin_unlock(so.table),
                    lambda err: self.unpublish(so.handle, fail=err, text=f"{so.name} = idr_remove(&file_private->"
                                               "syncobj_idr, handle)"), fail)
        self.drm_syncobj_put(so)
