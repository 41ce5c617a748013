"""udmabuf's begin_cpu_access caches an sg table in the buffer; its release frees what is cached there.

begin_cpu_access builds the sg table on first use and stores it in ``ubuf->sg``; a failed build must
leave ``ubuf->sg`` NULL (not the ERR_PTR get_sg_table() returned), because release_udmabuf() frees
whatever ``ubuf->sg`` holds. Modeled on begin_cpu_udmabuf() and release_udmabuf()
(drivers/dma-buf/udmabuf.c).

Threads: ``sync`` (DMA_BUF_IOCTL_SYNC start: begin_cpu_access), ``close`` (the last close: release).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "udmabuf-cpu"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/dma-buf/udmabuf.c",
               title="the cached sg table is NULL unless it was built")
    sg = d.mem("ubuf->sg_table", kernel="struct sg_table (get_sg_table())")
    err = d.mem("err_ptr_enomem", kernel="an error pointer: never allocated, not NULL")
    cached = d.slot("ubuf->sg", sg, kind="ptr", holds_ref=True)
    bogus = d.slot("ubuf->sg_err", err, kind="ptr", holds_ref=False)

    def release(k):  # release_udmabuf(): if (ubuf->sg) put_sg_table(dev, ubuf->sg, ...)
        k.unpublish(cached, fail="no_table", text="if (ubuf->sg)")
        k.kfree(sg, "put_sg_table(ubuf->sg)")
        k.ret()
        k.label("no_table")
        k.peek(bogus, fail="done", text="if (ubuf->sg)  /* an ERR_PTR is not NULL */")
        k.use(err, "put_sg_table(dev, ubuf->sg, ...): sg_free_table(ERR_PTR)")
        k.label("done")

    buf = d.dma_buf("dmabuf", live=True, owners=("close", "sync"), ops={"release": release})  # the ioctl's fdget

    @d.thread("sync", kernel="DMA_BUF_IOCTL_SYNC: begin_cpu_udmabuf()")
    def sync(k):
        k.use(buf, "begin_cpu_udmabuf(): if (!ubuf->sg)")
        k.kzalloc(sg, "GFP_KERNEL", fail="failed", text="ubuf->sg = get_sg_table(dev, buf, direction)")
        k.publish(cached, "ubuf->sg = sg")
        k.goto("out")
        k.label("failed")
        if bug == "udmabuf-sg-err-ptr":
            k.publish(bogus, "ubuf->sg = ERR_PTR(-ENOMEM) (left in place)")
        k.label("out")
        k.dma_buf_put(buf)  # fdput() at the end of the ioctl

    @d.userspace("close", kernel="close(fd): the last fput")
    def close(k):
        k.dma_buf_put(buf)

    return d


DESIGN = make()

BUGS = {
    "udmabuf-sg-err-ptr": Bug(
        NAME, "leave ubuf->sg = ERR_PTR when get_sg_table() fails; release frees it", "use-before-init",
        ("KOBJ-2", "KOBJ-3"), "d9c04a1b7a15 'udmabuf: Set ubuf->sg = NULL if the creation of sg table fails' "
        "(CVE-2022-50819)", "invalid free on error path"),
}
