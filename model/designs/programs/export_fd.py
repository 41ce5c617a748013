"""An exporter's export ioctl: allocate the private object, dma_buf_export, dma_buf_fd, return the fd.

Modeled on udmabuf_create()/export_udmabuf() (drivers/dma-buf/udmabuf.c), gntdev-dmabuf's
dmabuf_exp_from_pages(), habanalabs' export_dmabuf(), vfio-pci's dma-buf feature and fastrpc's
ALLOC_DMA_BUFF: once dma_buf_fd() has installed the fd, another thread of the process can close it
at once, so the fd is the last thing the ioctl touches (REF-5), and once dma_buf_export() succeeded
the buffer owns the private object (its release frees it).

Threads: ``ioctl`` (the export path with its error paths) and ``close`` (userspace closing the fd
at any moment).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "export-fd"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/dma-buf/udmabuf.c udmabuf_create()",
               title="export ioctl: dma_buf_export, then dma_buf_fd last")
    priv = d.mem("priv", kernel="struct udmabuf")

    def release(k):
        k.kfree(priv, "release: kfree(ubuf)")

    buf = d.dma_buf("buf", ops={"release": release})
    fd = d.slot("fd", buf, kind="fd")

    @d.thread("ioctl", kernel="UDMABUF_CREATE")
    def ioctl(k):
        k.kzalloc(priv, fail="out")
        k.dma_buf_export(buf, priv=priv, fail="err_free")
        k.use(priv, "ubuf->dmabuf = buf")
        if bug == "dma-buf-fd-trace":
            k.dma_buf_fd(buf, fd, fail="err_put")
            k.use(buf, "DMA_BUF_TRACE(dmabuf): spin_lock(&dmabuf->name_lock)")
        elif bug == "gntdev-exp-after-fd":
            k.dma_buf_fd(buf, fd, fail="err_put")
            k.use(priv, "gntdev_dmabuf->fd = ret; list_add(&gntdev_dmabuf->next, &exp_list)")
        elif bug == "habanalabs-export-after-fd":
            k.dma_buf_fd(buf, fd, fail="err_put")
            k.use(priv, "hl_dmabuf->ctx = ctx; get_file(hpriv->filp)")
        else:
            k.use(buf, "DMA_BUF_TRACE(dmabuf)")
            k.dma_buf_fd(buf, fd, fail="fd_failed")
        if bug == "fastrpc-put-after-fd":
            k.copy_to_user("copy_to_user(argp, &bp)", fail="err_put")
        else:
            k.copy_to_user("copy_to_user(argp, &bp)", fail="out")  # the fd stays installed: close() cleans up
        k.ret(0)
        k.label("fd_failed")
        if bug == "udmabuf-fd-fail-leak":
            k.kfree(priv, "kfree(ubuf) (manual teardown)")
            k.ret("-EMFILE")
        if bug == "vfio-fd-fail-double-free":
            k.dma_buf_put(buf)
            k.kfree(priv, "kfree(priv) (pre-export unwind)")
            k.ret("-EMFILE")
        k.label("err_put")
        k.dma_buf_put(buf)  # the release frees priv
        k.ret("-EMFILE")
        k.label("err_free")
        k.kfree(priv)
        k.label("out")

    @d.userspace("close", kernel="close(2)")
    def close(k):
        k.close(fd)

    return d


DESIGN = make()

_FIXED = "dma_buf_fd() after the last use, and dma_buf_put() (not kfree) once export succeeded"
BUGS = {
    "dma-buf-fd-trace": Bug(
        NAME, "the dma_buf_fd() tracepoint reads the dma-buf after fd_install", "use-after-free", ("REF-5", "KOBJ-1"),
        "ead6680f354f 'dma-buf: fix UAF in dma_buf_fd() tracepoint' (CVE-2026-63910)", "publication/close race"),
    "gntdev-exp-after-fd": Bug(
        NAME, "touch the private object after dma_buf_fd()", "use-after-free", ("REF-5", "KOBJ-1"),
        "532c8b51b3a8 'xen: fix UAF in dmabuf_exp_from_pages()' (CVE-2025-38595)", "publication/close race"),
    "habanalabs-export-after-fd": Bug(
        NAME, "take references and counters after dma_buf_fd()", "use-after-free", ("REF-5", "KOBJ-1"),
        "33927f3d0ecd 'habanalabs: fix UAF in export_dmabuf()' (CVE-2025-38722)", "publication/close race"),
    "fastrpc-put-after-fd": Bug(
        NAME, "dma_buf_put() when copy_to_user fails after dma_buf_fd() consumed the reference", "kref-put-noref",
        ("REF-5", "KREF-3"), "46963e2e0629 'misc: fastrpc: avoid double fput() on failed usercopy' (CVE-2022-48821)",
        "put without reference"),
    "udmabuf-fd-fail-leak": Bug(
        NAME, "on dma_buf_fd() failure free the private object by hand, never dma_buf_put()", "kref-leak",
        ("KREF-4", "REF-5"), "f49856f525ac 'udmabuf: fix memory leak on last export_udmabuf() error path' "
        "(CVE-2024-56712)", "leak on error path"),
    "vfio-fd-fail-double-free": Bug(
        NAME, "on dma_buf_fd() failure dma_buf_put() and also run the pre-export unwind", "double-free",
        ("KOBJ-3",), "e98137f0a874 'vfio/pci: Fix double free in dma-buf feature' (CVE-2026-31468)", "double free"),
}
FIXED = _FIXED
