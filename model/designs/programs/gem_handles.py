"""GEM handles and mmap: the idr handle owns a reference, mmap callbacks balance theirs.

A handle in ``file->object_idr`` holds a reference to its GEM object; moving it to another handle
takes the object out of the old one first (idr_replace(old, NULL)) so that a concurrent GEM_CLOSE
of the old handle finds nothing to drop. The mmap path holds the reference ``obj->funcs->mmap``
consumes, and an error path drops only references it took. Modeled on drm_gem_change_handle_ioctl()
and drm_gem_handle_delete() (drivers/gpu/drm/drm_gem.c), drm_gem_prime_mmap()
(drivers/gpu/drm/drm_prime.c) with drm_gem_ttm_mmap(), and drm_gem_shmem_mmap()
(drivers/gpu/drm/drm_gem_shmem_helper.c).

Threads: ``change_handle`` (GEM_CHANGE_HANDLE), ``close`` (userspace GEM_CLOSE of the old handle),
``lookup`` (an ioctl using the new handle), ``prime_mmap`` (mmap of the exported dma-buf),
``shmem_mmap`` (mmap of a shmem object whose page allocation may fail).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "gem-handles"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/drm_gem.c",
               title="GEM handle moves and mmap reference balance")
    table = d.spinlock("file->table_lock")
    obj = d.kref("gem", live=True, kernel="struct drm_gem_object")
    old = d.slot("old_handle", obj, kind="idr", installed=True)
    new = d.slot("new_handle", obj, kind="idr")
    ttm_obj = d.kref("ttm_gem", live=True, owners=("buf",), kernel="GEM object behind a dma-buf")
    d.holder("buf")
    shmem = d.kref("shmem_gem", live=True, owners=("mmap_caller",), kernel="shmem GEM object")
    d.holder("mmap_caller")
    vma_slot = d.slot("vma->vm_private_data", ttm_obj, kind="ptr")
    shmem_vma = d.slot("shmem_vma", shmem, kind="ptr")

    @d.thread("change_handle", kernel="DRM_IOCTL_GEM_CHANGE_HANDLE")
    def change_handle(k):
        k.spin_lock(table)
        if bug == "gem-change-handle-race":
            k.publish(new, "idr_alloc(&file->object_idr, obj, new_handle)")
            k.spin_unlock(table)
            k.spin_lock(table)
            k.unpublish(old, fail="gone", text="idr_remove(&file->object_idr, old_handle)")
            k.spin_unlock(table)
            k.kref_put(obj, "drm_gem_object_handle_put_unlocked(obj) (the old handle's)")
            k.ret(0)
            k.label("gone")
            k.spin_unlock(table)
        else:
            k.unpublish(old, fail="einval", text="idr_replace(&file->object_idr, NULL, old_handle)")
            k.publish(new, "idr_alloc(&file->object_idr, obj, new_handle)")
            k.spin_unlock(table)
            k.ret(0)
            k.label("einval")
            k.spin_unlock(table)

    @d.userspace("close", kernel="DRM_IOCTL_GEM_CLOSE (old handle)")
    def close(k):
        k.spin_lock(table)
        k.unpublish(old, fail="einval", text="idr_replace(&file->object_idr, NULL, handle)")
        k.spin_unlock(table)
        k.kref_put(obj, "drm_gem_object_release_handle(): drm_gem_object_handle_put_unlocked(obj)")
        k.ret(0)
        k.label("einval")
        k.spin_unlock(table)

    @d.userspace("lookup", kernel="an ioctl on the new handle (drm_gem_object_lookup)")
    def lookup(k):
        k.spin_lock(table)
        k.lookup(new, fail="enoent", text="obj = idr_find(&file->object_idr, handle); drm_gem_object_get(obj)")
        k.spin_unlock(table)
        k.use(obj, "obj->size")
        k.kref_put(obj, "drm_gem_object_put(obj)")
        k.ret(0)
        k.label("enoent")
        k.spin_unlock(table)

    def ttm_mmap(k):  # drm_gem_ttm_mmap(): on success the vma keeps the reference the caller took
        k.publish(vma_slot, "vma->vm_private_data = bo; drm_gem_object_put(obj) (the vma's now)")

    @d.thread("prime_mmap", kernel="drm_gem_prime_mmap()")
    def prime_mmap(k):
        if bug != "prime-mmap-ttm-uaf":
            k.kref_get(ttm_obj, "drm_gem_object_get(obj)")
        k.call(ttm_mmap)
        if bug == "prime-mmap-ttm-uaf":
            k.kref_get(ttm_obj, "drm_gem_object_get(obj) (after obj->funcs->mmap)")
            k.kref_put(ttm_obj, "drm_gem_object_put(obj)")

    @d.thread("shmem_mmap", kernel="drm_gem_shmem_mmap()")
    def shmem_mmap(k):
        k.may_goto("err", "ret = drm_gem_shmem_get_pages(shmem) / dma_buf_mmap(); if (ret)")
        k.kref_get(shmem, "vma keeps a reference: drm_gem_object_get(obj)")
        k.publish(shmem_vma, "vma->vm_private_data = shmem")
        k.ret(0)
        k.label("err")
        if bug in ("shmem-mmap-errant-put", "shmem-mmap-dmabuf-errant-put"):
            k.kref_put(shmem, "drm_gem_object_put(obj) (error path)")

    return d


DESIGN = make()

BUGS = {
    "gem-change-handle-race": Bug(
        NAME, "publish the new handle while the old one still owns the reference, remove the old one later",
        "kref-put-noref", ("KREF-3", "KOBJ-1"),
        "7164d78559b0 'drm/gem: fix race between change_handle and handle_delete' (CVE-2026-63885); "
        "5e28b7b94408 'drm: Set old handle to NULL before prime swap in change_handle'", "publication/close race"),
    "prime-mmap-ttm-uaf": Bug(
        NAME, "take the caller's reference only after obj->funcs->mmap() consumed one", "kref-put-noref",
        ("KREF-3", "KREF-2"), "8244a3bc27b3 'drm/prime: Fix use after free in mmap with drm_gem_ttm_mmap' "
        "(CVE-2021-47200)", "put without reference"),
    "shmem-mmap-errant-put": Bug(
        NAME, "drm_gem_object_put() on the get_pages error path", "kref-put-noref", ("KREF-3",),
        "24013314be6e 'drm/shmem-helper: Remove errant put in error path' (CVE-2022-48981)", "put without reference"),
    "shmem-mmap-dmabuf-errant-put": Bug(
        NAME, "drm_gem_object_put() on the dma_buf_mmap() error path", "kref-put-noref", ("KREF-3",),
        "ee9adb7a4551 'drm/shmem-helper: Remove another errant put in error path' (CVE-2023-53084)",
        "put without reference"),
}
