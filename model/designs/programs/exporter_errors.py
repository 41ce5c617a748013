"""Error returns of exporter ops and of the import paths around them: what each failure leaves behind.

An exporter op that fails undoes its own work before it returns the error (the core frees the
attachment and returns ERR_PTR, so nothing else will); an importer that fails after pinning unpins
before it returns (the caller of a failed prepare step never calls its cleanup); and a failed map's
ERR_PTR is never stored where the teardown takes it for a mapping. Modeled on fastrpc's
dma_buf_ops.attach and fastrpc_map_create()/fastrpc_free_map() (drivers/misc/fastrpc.c) and on
virtio_gpu_plane_prepare_fb()/virtgpu_dma_buf_free_obj() (drivers/gpu/drm/virtio/virtgpu_plane.c,
virtgpu_prime.c).

Threads: ``map_create`` (fastrpc_map_create() on the fd of a buffer fastrpc exported, so fastrpc's own
attach op runs inside its dma_buf_attach(); the map's release on every path) and ``plane_commit``
(an atomic commit preparing an imported framebuffer, cleanup_fb, then the object's free).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "exporter-errors"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/misc/fastrpc.c",
               title="exporter op and import-path error returns undo their own work")
    user = d.holder("user_fd")  # the fds userspace keeps open during the calls
    _fastrpc(d, bug, user)
    _virtio_prepare_fb(d, bug, user)
    return d


def _fastrpc(d: Driver, bug: str | None, user: str) -> None:
    """fastrpc maps a dma-buf fd for a remote call; the buffer is one fastrpc exported itself, so its
    attach op (which allocates the private attachment, then may fail) runs inside the map's attach."""
    a = d.mem("fastrpc_att_priv", kernel="struct fastrpc_dma_buf_attachment")
    blist = d.mutex("buffer->lock")
    priv = d.slot("attachment->priv", a, kind="ptr")  # the attachment owns a from a successful attach

    def attach(k):  # fastrpc_dma_buf_attach()
        k.kzalloc(a, fail="enomem", text="a = kzalloc(sizeof(*a), GFP_KERNEL)")
        k.may_goto("sg_fail", "ret = dma_get_sgtable(buffer->dev, &a->sgt, ...); if (ret < 0)")
        k.publish(priv, "attachment->priv = a")
        k.mutex_lock(blist)
        k.use(a, "list_add(&a->node, &buffer->attachments)")
        k.mutex_unlock(blist)
        k.ret(0)
        k.label("sg_fail")
        if bug != "fastrpc-attach-leak":
            k.kfree(a, "kfree(a)")
        k.ret("-EINVAL")
        k.label("enomem")
        k.ret("-ENOMEM")

    def detach(k):  # fastrpc_dma_buf_detatch()
        k.unpublish(priv, text="a = attachment->priv")
        k.mutex_lock(blist)
        k.use(a, "list_del(&a->node)")
        k.mutex_unlock(blist)
        k.kfree(a, "sg_free_table(&a->sgt); kfree(a)")

    def map_op(k):  # fastrpc_map_dma_buf()
        k.use(a, "dma_map_sgtable(attachment->dev, &a->sgt, dir, 0)")

    def unmap_op(k):  # fastrpc_unmap_dma_buf()
        k.use(a, "dma_unmap_sgtable(attach->dev, table, dir, 0)")

    buf = d.dma_buf("fastrpc_buf", live=True, owners=(user,),
                    ops={"attach": attach, "detach": detach, "map": map_op, "unmap": unmap_op})
    att = d.attachment("map->attach", buf)
    table = d.field("map->table", kernel="map->table != NULL")
    ref = d.slot("map->buf", buf, kind="ptr")  # the map's dma-buf reference, once the create succeeded

    def free_map(k):  # fastrpc_free_map(): the release of map->refcount
        k.goto_if(~table.is_set, "no_table", "if (map->table)")
        k.dma_buf_unmap_attachment(att)
        k.dma_buf_detach(att)
        k.unpublish(ref, text="map->buf")
        k.dma_buf_put(buf)
        k.label("no_table")
        k.use(fmap, "list_del(&map->node) (under fl->lock)")

    fmap = d.kref("map", release=free_map, kernel="struct fastrpc_map")

    @d.thread("map_create", kernel="fastrpc_map_create() on the fd of a buffer fastrpc exported")
    def map_create(k):
        k.kzalloc(fmap, fail="out", text="map = kzalloc(); kref_init(&map->refcount)")
        k.get_dma_buf(buf, "map->buf = dma_buf_get(fd)")
        k.dma_buf_attach(att, fail="attach_err")  # the attach op runs inside; its error fails the call
        if bug == "fastrpc-map-err-unmap":
            k.dma_buf_map_attachment(att, fail="map_err_stored")
        else:
            k.dma_buf_map_attachment(att, fail="map_err")
        k.set(table, 1, "map->table = table")
        k.publish(ref, "map->buf (the map holds it from now on)")
        k.kref_put(fmap, "fastrpc_map_put(map) (the invoke is done with it)")
        k.ret(0)
        if bug == "fastrpc-map-err-unmap":
            k.label("map_err_stored")
            k.set(table, 1, "map->table = dma_buf_map_attachment_unlocked() (the ERR_PTR)")
        k.label("map_err")
        k.dma_buf_detach(att)
        k.label("attach_err")
        k.dma_buf_put(buf)
        k.kref_put(fmap, "fastrpc_map_put(map)")
        k.label("out")


def _virtio_prepare_fb(d: Driver, bug: str | None, user: str) -> None:
    """virtio-gpu: prepare_fb pins an imported buffer and allocates the plane's fence; a failed prepare_fb
    gets no cleanup_fb."""
    buf = d.dma_buf("virtio_import", live=True, dynamic=True, owners=("plane_commit", user))

    def move_notify(k):  # virtgpu_dma_buf_move_notify()
        k.use(buf, "virtio_gpu_detach_object_fenced(bo)")

    att = d.attachment("obj->import_attach", buf, dynamic=True, move_notify=move_notify)
    fence = d.fence("vgplane_st->fence")
    sgt = d.field("bo->sgt", kernel="bo->sgt != NULL")

    def prepare_imported_obj(k):  # virtio_gpu_prepare_imported_obj()
        k.dma_resv_lock(buf.resv)
        k.dma_buf_pin(att, fail="unlock")
        k.dma_buf_map_attachment(att, locked=True, fail="unpin")  # virtgpu_dma_buf_import_sgt()
        k.set(sgt, 1, "bo->sgt = sgt")
        k.dma_resv_unlock(buf.resv)
        k.ret(0)
        k.label("unpin")
        k.dma_buf_unpin(att)
        k.label("unlock")
        k.dma_resv_unlock(buf.resv)
        k.ret("-EINVAL")

    @d.thread("plane_commit", kernel="virtio_gpu_plane_prepare_fb() on an imported framebuffer, cleanup_fb, "
              "then virtgpu_dma_buf_free_obj()")
    def plane_commit(k):
        k.dma_buf_attach(att, fail="put")  # virtgpu_gem_prime_import(): dma_buf_dynamic_attach()
        if bug == "virtio-prepare-fb-pin-leak":
            k.call(prepare_imported_obj, fail="free_obj")
            k.kzalloc(fence, fail="free_obj", text="vgplane_st->fence = virtio_gpu_fence_alloc()")
        else:
            k.kzalloc(fence, fail="free_obj", text="vgplane_st->fence = virtio_gpu_fence_alloc()")
            k.call(prepare_imported_obj, fail="err_fence")
        # prepare_fb succeeded: the commit runs, then virtio_gpu_plane_cleanup_fb()
        k.dma_fence_put(fence)
        k.dma_resv_lock(buf.resv)  # virtio_gpu_cleanup_imported_obj()
        k.dma_buf_unpin(att)
        k.dma_resv_unlock(buf.resv)
        k.goto("free_obj")
        k.label("err_fence")  # prepare_fb failed: the atomic core calls no cleanup_fb for this plane
        k.dma_fence_put(fence)
        k.label("free_obj")  # virtgpu_dma_buf_free_obj()
        k.dma_resv_lock(buf.resv)
        k.goto_if(~sgt.is_set, "unmapped", "if (bo->sgt)")
        k.dma_buf_unmap_attachment(att, locked=True)
        k.label("unmapped")
        k.dma_resv_unlock(buf.resv)
        k.dma_buf_detach(att)
        k.label("put")
        k.dma_buf_put(buf)


DESIGN = make()

BUGS = {
    "fastrpc-attach-leak": Bug(
        NAME, "the attach op returns -EINVAL when dma_get_sgtable() fails without kfree(a)", "kref-leak",
        ("KREF-4",), "fc739a058d99 'misc: fastrpc: prevent memory leak in fastrpc_dma_buf_attach' (CVE-2019-19069)",
        "leak on error path"),
    "virtio-prepare-fb-pin-leak": Bug(
        NAME, "prepare_fb pins the imported buffer before allocating the fence, whose -ENOMEM returns pinned",
        "pin-balance", ("ATT-7", "DYN-4"),
        "395cc80051f8 'drm/virtio: Fix missed dmabuf unpinning in error path of prepare_fb()'",
        "migration while pinned"),
    "fastrpc-map-err-unmap": Bug(
        NAME, "map->table keeps the ERR_PTR of a failed map: the map's release unmaps and detaches it again",
        "unmap-after-map", ("ATT-7", "MAP-1"),
        "a2cb9cd6a394 'misc: fastrpc: Fix incorrect DMA mapping unmap request'", "map/attach bracketing"),
}
FIXED = ("an op frees what it allocated before returning its error; pin last in prepare_fb (the fence first); "
         "map->table set only on success")
