"""Importing a dma-buf: the importer's object is set up before the exporter can reach it, error paths
unwind only what they own, and a dynamic importer's pins balance.

The importer object (a GEM/TTM BO) becomes reachable by the exporter at dma_buf_dynamic_attach():
the attachment carries it as importer_priv, and move_notify() may run at once, so the BO is fully
initialised first. A TTM init that fails has already freed the BO through its destroy callback, so
the caller's unwind must not drop it again, and a retry starts from a fresh allocation; an object
whose kref was never initialised is freed, not put. An unpin belongs to the path that owns the pin.
Modeled on xe_gem_prime_import() (drivers/gpu/drm/xe/xe_dma_buf.c),
nouveau_gem_prime_import_sg_table() (drivers/gpu/drm/nouveau/nouveau_prime.c) and
ib_umem_dmabuf_get_pinned_with_dma_device() (drivers/infiniband/core/umem_dmabuf.c).

Threads: ``import`` (xe: allocate the BO, attach, initialise; retried on -EAGAIN), ``exporter``
(moves the buffer: move_notify to every attachment), ``nouveau`` (import_sg_table with an init
that can fail), ``umem`` (RDMA: attach, pin, map, release).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "prime-import"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/xe/xe_dma_buf.c",
               title="importer objects initialised before attach; unwinds that own what they drop")
    bo = d.kref("xe_bo", kernel="struct xe_bo")
    attachments = d.slot("dmabuf->attachments", bo, kind="list", holds_ref=False)  # attach->importer_priv
    resv = d.resv("dmabuf->resv")
    done = d.slot("gem_handle", bo, kind="idr")

    @d.thread("import", kernel="xe_gem_prime_import()")
    def imp(k):
        if bug == "xe-bo-retry-uaf":
            k.kzalloc(bo, initialised=False, fail="out", text="bo = xe_bo_alloc()")
            k.label("retry")
        else:
            k.label("retry")
            k.kzalloc(bo, initialised=False, fail="out", text="bo = xe_bo_alloc()")
        if bug == "xe-attach-before-init":
            k.publish(attachments, "dma_buf_dynamic_attach(dmabuf, ..., importer_priv = bo)")
            k.init(bo, "xe_dma_buf_init_obj(): xe_bo_init_locked(bo)")
        else:
            k.use(bo, "xe_dma_buf_init_obj(): xe_bo_init_locked(bo)")
            k.may_goto("eagain", "xe_bo_init_locked() -> -EAGAIN")
            k.init(bo, "bo initialised")
            k.publish(attachments, "dma_buf_dynamic_attach(dmabuf, ..., importer_priv = bo)")
        k.publish(done, "drm_gem_handle_create(file, &bo->ttm.base)")
        k.ret(0)
        k.label("eagain")
        k.kfree(bo, "the failed init frees bo (xe_bo_free)")
        k.goto("retry")
        k.label("out")

    @d.userspace("exporter", kernel="exporter evicts: dma_buf_move_notify()")
    def exporter(k):
        k.dma_resv_lock(resv)
        k.peek(attachments, fail="none", text="list_for_each_entry(attach, &dmabuf->attachments, node)")
        k.use(bo, "xe_dma_buf_move_notify(attach): xe_bo_evict(attach->importer_priv)")
        k.label("none")
        k.dma_resv_unlock(resv)

    nvbo = d.kref("nvbo", kernel="struct nouveau_bo")
    gem = d.slot("import_result", nvbo, kind="ptr")

    @d.thread("nouveau", kernel="nouveau_gem_prime_import_sg_table()")
    def nouveau(k):
        k.kzalloc(nvbo, kref_init=False, fail="out", text="nvbo = nouveau_bo_alloc()")
        k.may_goto("obj_init_failed", "drm_gem_object_init() fails (the ttm kref is not initialised yet)")
        k.kref_init(nvbo, "ttm_bo_init_validate(): kref_init(&bo->kref)")
        k.may_goto("ttm_failed", "ttm_bo_init_validate() fails")
        k.publish(gem, "return &nvbo->bo.base")
        k.ret(0)
        k.label("ttm_failed")
        k.kref_put(nvbo, "ttm_bo_put(): nouveau_bo_del_ttm() frees nvbo")
        if bug == "nouveau-import-double-free":
            k.kref_put(nvbo, "nouveau_bo_ref(NULL, &nvbo)")
        k.ret("-ENOMEM")
        k.label("obj_init_failed")
        if bug == "nouveau-prime-underflow":
            k.kref_put(nvbo, "nouveau_bo_ref(NULL, &nvbo)")
        else:
            k.kfree(nvbo, "kfree(nvbo)")
        k.label("out")

    att = d.attachment("umem->attach", d.dma_buf("exported", live=True, owners=("umem",)))

    @d.thread("umem", kernel="ib_umem_dmabuf_get_pinned_with_dma_device()")
    def umem(k):
        k.dma_buf_attach(att, fail="put")
        k.dma_resv_lock(att.buf.resv)
        k.dma_buf_pin(att, fail="detach")
        k.dma_buf_map_attachment(att, locked=True, fail="map_failed")
        k.dma_resv_unlock(att.buf.resv)
        k.label("release")  # ib_umem_release(): revoke = unmap, then unpin
        k.dma_resv_lock(att.buf.resv)
        k.dma_buf_unmap_attachment(att, locked=True)
        k.label("unpin")
        k.dma_buf_unpin(att)
        k.dma_resv_unlock(att.buf.resv)
        k.dma_buf_detach(att)
        k.dma_buf_put(att.buf)
        k.ret(0)
        k.label("map_failed")  # ib_umem_dmabuf_map_pages() failed (dma_resv_wait_timeout)
        if bug == "umem-double-unpin":
            k.dma_buf_unpin(att)
            k.goto("unpin")  # ib_umem_release() -> revoke unpins again
        k.goto("unpin")
        k.label("detach")
        k.dma_resv_unlock(att.buf.resv)
        k.dma_buf_detach(att)
        k.label("put")
        k.dma_buf_put(att.buf)

    return d


DESIGN = make()

BUGS = {
    "xe-attach-before-init": Bug(
        NAME, "dma_buf_dynamic_attach() with importer_priv = bo before the BO is initialised", "use-before-init",
        ("KOBJ-2", "DYN-7"), "981bedbbe613 'drm/xe/dma-buf: handle empty bo and UAF races' (CVE-2026-52951)",
        "publication before init"),
    "xe-bo-retry-uaf": Bug(
        NAME, "the -EAGAIN retry reuses the BO the failed init freed", "use-after-free", ("KOBJ-1",),
        "155a372a1cc5 'drm/xe/dma-buf: fix UAF with retry loop' (CVE-2026-52950)", "use after free on retry"),
    "nouveau-import-double-free": Bug(
        NAME, "nouveau_bo_ref(NULL) after the failed ttm init already freed the BO", "use-after-free",
        ("KOBJ-1", "KREF-2"), "540dfd188ea2 'drm/nouveau: fix a use-after-free in nouveau_gem_prime_import_sg_table()' "
        "(CVE-2022-50454)", "double put"),
    "umem-double-unpin": Bug(
        NAME, "dma_buf_unpin() on the map failure path, and again in ib_umem_release()", "pin-balance",
        ("DYN-4",), "104016eb671e 'RDMA/umem: Fix double dma_buf_unpin in failure path' (CVE-2026-43128)",
        "unbalanced pin"),
    "nouveau-prime-underflow": Bug(
        NAME, "unwind with nouveau_bo_ref(NULL) before the kref was initialised", "kref-underflow", ("KREF-2",),
        "a9bf3efc33f1 'drm/nouveau: prime: fix refcount underflow' (CVE-2024-43867)", "put on a zero count"),
}
