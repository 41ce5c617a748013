"""A GEM object's exported dma-buf lives as long as the GEM handles do: users of ``obj->dma_buf`` hold a
handle reference, or read the import's stable pointer.

When the last GEM handle of an exported object is closed, drm_gem_object_handle_put_unlocked() drops
the object's reference to its dma-buf and clears ``obj->dma_buf``; a framebuffer that vmaps that
dma-buf must hold a handle reference of its own (not just a GEM reference), and an import path must
read ``obj->import_attach->dmabuf``, which lives as long as the object. Modeled on
drm_gem_fb_vmap() / drm_gem_fb_init() (drivers/gpu/drm/drm_gem_framebuffer_helper.c),
drm_gem_object_exported_dma_buf_free() (drivers/gpu/drm/drm_gem.c) and drm_gem_prime_import paths
(drivers/gpu/drm/drm_prime.c).

Threads: ``addfb`` (a framebuffer on the object, vmapping its dma-buf at commit), ``close`` (GEM_CLOSE
of the last handle), ``importer`` (a prime path reading the object's dma-buf).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "gem-dmabuf"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/drm_gem.c",
               title="obj->dma_buf used under a handle reference or through the stable import pointer")
    buf = d.dma_buf("obj->dma_buf", live=True)
    exported = d.slot("obj->dma_buf_ptr", buf, kind="ptr", installed=True)  # the object's reference
    stable = d.slot("import_attach->dmabuf", buf, kind="ptr", installed=True, holds_ref=False)
    buf.owners = ("importer_attach",)
    d.holder("importer_attach")  # the import attachment keeps the buffer for the object's life

    name_lock = d.mutex("dev->object_name_lock")
    handles = d.field("obj->handle_count", max_value=2, init=1, kernel="drm_gem_object.handle_count")

    def handle_put(k, tag):  # drm_gem_object_handle_put_unlocked()
        k.mutex_lock(name_lock)
        k.dec(handles, zero=f"last{tag}", text="--obj->handle_count")
        k.mutex_unlock(name_lock)
        k.ret()
        k.label(f"last{tag}")  # the last handle: drm_gem_object_exported_dma_buf_free()
        k.unpublish(exported, text="obj->dma_buf = NULL")
        k.mutex_unlock(name_lock)
        k.dma_buf_put(buf)

    @d.thread("addfb", kernel="drm_gem_fb_init() ... atomic commit: drm_gem_fb_vmap()")
    def addfb(k):
        if bug != "gem-fb-no-handle-ref":  # drm_gem_object_handle_get_if_exists_unlocked()
            k.mutex_lock(name_lock)
            k.goto_if(handles.value == 0, "gone", "if (!obj->handle_count)")
            k.inc(handles, "obj->handle_count++")
            k.mutex_unlock(name_lock)
        k.use_slot(exported, "dma_buf_vmap(obj->dma_buf)")
        if bug != "gem-fb-no-handle-ref":
            k.call(handle_put, "_fb")
            k.ret()
            k.label("gone")
            k.mutex_unlock(name_lock)

    @d.userspace("close", kernel="DRM_IOCTL_GEM_CLOSE of the last handle")
    def close(k):
        k.call(handle_put, "")

    @d.thread("importer", kernel="a prime path that needs the object's dma-buf")
    def importer(k):
        if bug == "prime-uses-obj-dma-buf":
            k.use_slot(exported, "dma_buf = obj->dma_buf")
        else:
            k.use_slot(stable, "dma_buf = obj->import_attach->dmabuf")

    return d


DESIGN = make()

BUGS = {
    "gem-fb-no-handle-ref": Bug(
        NAME, "the framebuffer holds only a GEM reference; closing the last handle releases obj->dma_buf",
        "null-deref", ("KOBJ-5", "KREF-3"),
        "5307dce878d4 'drm/gem: Acquire references on GEM handles for framebuffers' (CVE-2025-38449)",
        "sub-object lifetime"),
    "prime-uses-obj-dma-buf": Bug(
        NAME, "read obj->dma_buf, which the last handle close clears, instead of import_attach->dmabuf",
        "null-deref", ("KOBJ-5",),
        "fb4ef4a52b79 'Revert \"drm/prime: Use dma_buf from GEM object instance\"' (CVE-2025-38674)",
        "sub-object lifetime"),
}
