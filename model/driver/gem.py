"""GEM objects and PRIME (drivers/gpu/drm/drm_gem.c, drm_prime.c) as programs over their kernel objects.

A GEM object's handles (``Driver.gem_object``) live in the file's object_idr under ``file->table_lock``
and hold one object reference together: the first handle takes it, the last one's close drops it
(drm_gem_object_handle_get / drm_gem_object_handle_put_unlocked, under ``dev->object_name_lock``). PRIME
export caches the dma-buf in ``obj->dma_buf`` with a reference of its own while a handle exists; the
dma-buf holds a reference to the object, dropped by its release (drm_gem_dmabuf_release). A self-import
(fd_to_handle of a dma-buf this device exported) takes an object reference instead of the dma-buf's.
Written in the order of v6.x; the per-file PRIME cache (file_priv->prime's rb-trees) is not modelled.
"""

from __future__ import annotations

from typing import Any

from dmabuf_check.model.driver.objects import GemObject, Slot
from dmabuf_check.model.types import ModelError


class GemCalls:
    """The GEM and PRIME calls of the builder ``k`` (mixed into ``model.driver.code.Code``)."""

    def _gem(self: Any, obj: object) -> GemObject:
        if not isinstance(obj, GemObject) or obj not in self.b.objects:
            raise ModelError(f"thread {self.thread}: {getattr(obj, 'name', obj)!r} is not a GEM object of this "
                             "driver (declare it with d.gem_object(...))")
        return obj

    def _handle(self: Any, obj: GemObject, handle: Slot | None) -> Slot:
        slot = obj.handles[0] if handle is None else handle
        if slot not in obj.handles:
            raise ModelError(f"thread {self.thread}: {getattr(slot, 'name', slot)!r} is not a handle slot of "
                             f"{obj.name} (obj.handles)")
        return slot

    def drm_gem_object_get(self: Any, obj: GemObject) -> None:
        self.kref_get(self._gem(obj), f"drm_gem_object_get({obj.name})")

    def drm_gem_object_put(self: Any, obj: GemObject) -> None:
        self.kref_put(self._gem(obj), f"drm_gem_object_put({obj.name})")

    def drm_gem_object_lookup(self: Any, obj: GemObject, *, fail: str, handle: Slot | None = None) -> None:
        """``obj = drm_gem_object_lookup(file, handle); if (!obj) goto fail;``: under the table lock, the
        handle's object with a reference of the caller's (-ENOENT once the handle is closed)."""
        obj = self._gem(obj)
        slot = self._handle(obj, handle)
        self._under(lambda: self.spin_lock(obj.table), lambda: self.spin_unlock(obj.table),
                    lambda err: self.lookup(slot, fail=err, text=f"{obj.name} = idr_find(&file->object_idr, handle); "
                                            "drm_gem_object_get()"), fail)

    def _handle_get(self: Any, obj: GemObject) -> None:
        """drm_gem_object_handle_get() under object_name_lock: the first handle takes the handles' reference."""
        first = self._fresh("not_first")
        self.goto_if(obj.handle_count.value > 0, first, text=f"if ({obj.name}->handle_count++ == 0)")
        with self._acting_as(obj.handles_ref):
            self.drm_gem_object_get(obj)
        self.label(first)
        self.inc(obj.handle_count, f"{obj.name}->handle_count++")

    def _handle_put(self: Any, obj: GemObject) -> None:
        """drm_gem_object_handle_put_unlocked(): the last handle frees the export (obj->dma_buf and its
        reference) and drops the handles' reference, after the lock."""
        last, done = self._fresh("last_handle"), self._fresh("handle_put")
        self.mutex_lock(obj.name_lock)
        self.dec(obj.handle_count, zero=last, text=f"if (--{obj.name}->handle_count == 0)")
        self.mutex_unlock(obj.name_lock)
        self.goto(done)
        self.label(last)
        # drm_gem_object_handle_free() -> drm_gem_object_exported_dma_buf_free()
        old = self.ptr_xchg(obj.dma_buf, None, var="dma_buf",
                            text=f"if ({obj.name}->dma_buf) {{ dma_buf_put(obj->dma_buf); obj->dma_buf = NULL; }}")
        skip = self._fresh("no_export")
        self.goto_if(old.null, skip, text="if (!obj->dma_buf)")
        self.dma_buf_put(old)
        self.label(skip)
        self.mutex_unlock(obj.name_lock)
        with self._acting_as(obj.handles_ref):
            self.drm_gem_object_put(obj)
        self.label(done)

    def drm_gem_object_handle_get_unlocked(self: Any, obj: GemObject) -> None:
        """A handle reference without a handle (a framebuffer keeps obj->dma_buf alive, 5307dce878d4): the
        handle count goes up under object_name_lock (the first takes the handles' object reference)."""
        obj = self._gem(obj)
        self.mutex_lock(obj.name_lock)
        self._handle_get(obj)
        self.mutex_unlock(obj.name_lock)

    def drm_gem_object_handle_put_unlocked(self: Any, obj: GemObject) -> None:
        """Drops a handle reference: the last one frees the export (obj->dma_buf) and the object reference."""
        self._handle_put(self._gem(obj))

    def drm_gem_handle_create(self: Any, obj: GemObject, *, handle: Slot, fail: str) -> None:
        """``ret = drm_gem_handle_create(file, obj, &handle); if (ret) goto fail;``: a new handle (the first
        takes the handles' reference); idr_alloc may fail (-ENOMEM), undoing the handle count. The caller
        keeps its own reference."""
        obj = self._gem(obj)
        slot = self._handle(obj, handle)
        self.use(obj, f"drm_gem_handle_create_tail({obj.name})")
        self.mutex_lock(obj.name_lock)
        self._handle_get(obj)
        self.mutex_unlock(obj.name_lock)
        enomem, done = self._fresh("enomem"), self._fresh("created")
        if obj.open is None:
            self.spin_lock(obj.table)
            self.publish(slot, f"idr_alloc(&file->object_idr, {obj.name})", fail=enomem)
            self.spin_unlock(obj.table)
        else:
            # since bd46cece51a3 (v6.11) the handle is reserved with NULL (invisible to lookups and closes),
            # funcs->open runs, and only then idr_replace() makes it the object's
            self.spin_lock(obj.table)
            self.may_goto(enomem, "idr_alloc(&file->object_idr, NULL) fails (-ENOMEM)")
            self.spin_unlock(obj.table)
            revoke = self._fresh("err_revoke")
            # what open and close take and drop is the object's (driver state reached from it, per file)
            if self._run_body(f"{obj.name}->funcs->open", obj.open, self._lab(revoke), owner=obj.name):
                published = self._fresh("published")
                self.goto(published)
                self.label(revoke)
                self.spin_lock(obj.table)
                self.use(obj, f"err_remove: idr_remove(&file->object_idr, handle) ({obj.name}'s reserved slot)")
                self.spin_unlock(obj.table)
                self._handle_put(obj)
                self.goto(fail, "return the open error")
                self.label(published)
            self.spin_lock(obj.table)
            self.publish(slot, f"idr_replace(&file->object_idr, {obj.name}, handle)")
            self.spin_unlock(obj.table)
        self.goto(done)
        self.label(enomem)
        self.spin_unlock(obj.table)
        self._handle_put(obj)
        self.goto(fail, "return -ENOMEM")
        self.label(done)

    def drm_gem_handle_delete(self: Any, obj: GemObject, *, handle: Slot | None = None,
                              fail: str | None = None) -> None:
        """DRM_IOCTL_GEM_CLOSE (drm_gem_handle_delete): the handle leaves the idr under the table lock, then
        drm_gem_object_release_handle() puts the handle (the last one frees the export and drops the
        handles' reference). ``fail``: -EINVAL when it is already gone."""
        obj = self._gem(obj)
        slot = self._handle(obj, handle)
        self._under(lambda: self.spin_lock(obj.table), lambda: self.spin_unlock(obj.table),
                    lambda err: self.unpublish(slot, fail=err, text=f"{obj.name} = idr_replace(&file->object_idr, "
                                               "NULL, handle)"), fail)
        if obj.close is not None:  # drm_gem_object_release_handle(): obj->funcs->close(obj, file) first
            self._inline(f"{obj.name}->funcs->close", lambda: obj.close(self), owner=obj.name)
        self._handle_put(obj)

    def drm_gem_prime_handle_to_fd(self: Any, obj: GemObject, fd: Slot, *, fail: str,
                                   handle: Slot | None = None) -> None:
        """DRM_IOCTL_PRIME_HANDLE_TO_FD: under file_priv->prime.lock, look the handle up; under
        object_name_lock reuse obj->dma_buf (get_dma_buf) or export (export_and_register_object: -ENOENT once
        the last handle is gone, a new dma-buf holding an object reference, cached in obj->dma_buf with a
        reference of its own); then dma_buf_fd (-EMFILE puts the caller's dma-buf reference)."""
        obj = self._gem(obj)
        buf = obj.exported
        if not isinstance(fd, Slot) or fd.obj is not buf:
            raise ModelError(f"thread {self.thread}: drm_gem_prime_handle_to_fd({obj.name}): the fd slot holds "
                             f"{obj.name}.exported (d.slot(..., obj.exported, kind='fd'))")
        unlock_prime, unlock_name, put_obj = self._fresh("unlock"), self._fresh("unlock_name"), self._fresh("put")
        have, registered, fd_fail = self._fresh("have"), self._fresh("registered"), self._fresh("fd_fail")
        self.mutex_lock(obj.prime_lock)
        self.drm_gem_object_lookup(obj, handle=handle, fail=unlock_prime)
        self.mutex_lock(obj.name_lock)
        cur = self.ptr_load(obj.dma_buf, var="dmabuf")
        self.goto_if(~cur.null, have, text="if (obj->dma_buf) goto have")
        self.goto_if(obj.handle_count.value == 0, unlock_name,
                     text="export_and_register_object(): if (obj->handle_count == 0) return -ENOENT")
        self.drm_gem_object_get(obj)  # drm_gem_prime_export(): the dma-buf's reference (exp_info.priv)
        export_failed = self._fresh("export_failed")
        self.dma_buf_export(buf, priv=obj, fail=export_failed)
        self.kref_get(buf, "obj->dma_buf = dmabuf; get_dma_buf(obj->dma_buf)")
        self.ptr_store(obj.dma_buf, buf, text=f"{obj.name}->dma_buf = {buf.name}")
        self.goto(registered)
        self.label(export_failed)
        self.drm_gem_object_put(obj)
        self.goto(unlock_name)
        self.label(have)
        self.get_dma_buf(buf, "get_dma_buf(dmabuf)")
        self.label(registered)
        self.mutex_unlock(obj.name_lock)
        self.dma_buf_fd(buf, fd, fail=fd_fail)
        self.drm_gem_object_put(obj)
        self.mutex_unlock(obj.prime_lock)
        done = self._fresh("exported")
        self.goto(done)
        self.label(fd_fail)
        self.dma_buf_put(buf)
        self.goto(put_obj)
        self.label(unlock_name)
        self.mutex_unlock(obj.name_lock)
        self.label(put_obj)
        self.drm_gem_object_put(obj)
        self.mutex_unlock(obj.prime_lock)
        self.goto(fail, "return the error")
        self.label(unlock_prime)
        self.mutex_unlock(obj.prime_lock)
        self.goto(fail, "return -ENOENT")
        self.label(done)

    def drm_gem_prime_fd_to_handle(self: Any, fd: Slot, obj: GemObject, *, handle: Slot, fail: str) -> None:
        """DRM_IOCTL_PRIME_FD_TO_HANDLE: dma_buf_get(fd), then under file_priv->prime.lock
        drm_gem_prime_import(). Of a dma-buf this device exported (a self-import) it finds dmabuf->priv is
        our object and takes an object reference instead of a dma-buf one; of another device's
        (``d.gem_object(imports=buf)``) it attaches, takes a dma-buf reference for the object, maps, runs
        the driver's import_sg_table and creates the object. Then a new handle (drm_gem_handle_create_tail),
        the import's object reference put, and the fd's dma-buf reference put."""
        obj = self._gem(obj)
        buf = obj.exported
        if isinstance(fd, Slot) and obj.imports is not None and fd.obj is obj.imports:
            _prime_import(self, fd, obj, handle, fail)
            return
        if not isinstance(fd, Slot) or fd.obj is not buf:
            raise ModelError(f"thread {self.thread}: drm_gem_prime_fd_to_handle(..., {obj.name}): the fd slot "
                             f"holds {obj.name}.exported (a self-import) or the dma-buf of d.gem_object(imports=)")
        put_buf, done = self._fresh("put_buf"), self._fresh("imported")
        self.dma_buf_get(fd, fail=fail)
        self.mutex_lock(obj.prime_lock)
        self.use(buf, f"drm_gem_prime_import(): dma_buf->ops == &drm_gem_prime_dmabuf_ops: obj = {buf.name}->priv")
        self.drm_gem_object_get(obj)
        self.call(_create_tail, obj, handle, fail=put_buf)
        self.drm_gem_object_put(obj)
        self.mutex_unlock(obj.prime_lock)
        self.dma_buf_put(buf)
        self.goto(done)
        self.label(put_buf)
        self.drm_gem_object_put(obj)
        self.mutex_unlock(obj.prime_lock)
        self.dma_buf_put(buf)
        self.goto(fail, "return the error")
        self.label(done)


def _create_tail(k: Any, obj: GemObject, handle: Slot) -> None:
    """drm_gem_handle_create_tail() as a helper that returns its error."""
    k.drm_gem_handle_create(obj, handle=handle, fail="err")
    k.ret(0)
    k.label("err")
    k.ret("-ENOMEM")


def _prime_import(k: Any, fd: Slot, obj: GemObject, handle: Slot, fail: str) -> None:
    """drm_gem_prime_fd_to_handle() of another device's dma-buf: drm_gem_prime_import_dev() creates ``obj``."""
    buf, att = obj.imports, obj.import_attach
    unlock, detach, unmap, put_obj, done = (k._fresh(x) for x in ("unlock", "detach", "unmap", "put_obj", "done"))
    k.dma_buf_get(fd, fail=fail)
    k.mutex_lock(obj.prime_lock)
    k.dma_buf_attach(att, fail=unlock)
    with k._acting_as(obj.name):  # the import's reference, dropped by drm_prime_gem_destroy
        k.get_dma_buf(buf, "get_dma_buf(dma_buf) (the import's, dropped by drm_prime_gem_destroy)")
    k.dma_buf_map_attachment(att, fail=detach)
    if obj.import_sg_table is not None:  # dev->driver->gem_prime_import_sg_table(): its error unwinds
        k._run_body(f"{obj.name} gem_prime_import_sg_table()", obj.import_sg_table, k._lab(unmap))
    k.kzalloc(obj, text=f"{obj.name} = gem_prime_import_sg_table(); obj->import_attach = attach")
    k.call(_create_tail, obj, handle, fail=put_obj)
    k.drm_gem_object_put(obj)
    k.mutex_unlock(obj.prime_lock)
    k.dma_buf_put(buf)
    k.goto(done)
    k.label(put_obj)  # drm_gem_object_put(): the release undoes the import
    k.drm_gem_object_put(obj)
    k.goto(unlock)
    k.label(unmap)
    k.dma_buf_unmap_attachment(att)
    k.label(detach)
    k.dma_buf_detach(att)
    with k._acting_as(obj.name):
        k.dma_buf_put(buf)
    k.label(unlock)
    k.mutex_unlock(obj.prime_lock)
    k.dma_buf_put(buf)
    k.goto(fail, "return the error")
    k.label(done)
