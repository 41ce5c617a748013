"""The system heap's dma_buf_ops and an importer's lifecycle, as code paths (the ``system-heap`` design's
exporter, written as a program; see benchmarks/bench_programs.py for the two side by side).

Exporter ops (drivers/dma-buf/heaps/system_heap.c): attach duplicates the sg table (GFP_KERNEL) and
links the attachment under ``buffer->lock``; detach unlinks under it; map/unmap DMA-map under the
resv the core holds (v6.2+); begin/end_cpu_access sync the mapped attachments under
``buffer->lock``; release frees the heap buffer. The importer: dma_buf_get, attach, map, CPU access,
unmap, detach, put (REF-10: the reference is held while attached). Userspace holds the fd and may
close it at any moment; the importer holds its own reference from dma_buf_get.

Threads: ``importer`` (a device driver importing the fd), ``cpu`` (DMA_BUF_IOCTL_SYNC brackets),
``close``, ``close_again`` (two threads of the process closing the heap fd: one gets -EBADF).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "system-heap-paths"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/dma-buf/heaps/system_heap.c",
               title="system heap exporter ops and an importer's lifecycle as code paths")
    block = d.mutex("buffer->lock")
    heap = d.mem("heap_buffer", kernel="struct system_heap_buffer")
    table = d.mem("a->table", kernel="the attachment's sg_table copy")

    def attach(k):
        k.kzalloc(table, "GFP_KERNEL", text="a->table = dup_sg_table(&buffer->sg_table)")
        k.mutex_lock(block)
        k.use(heap, "list_add(&a->list, &buffer->attachments)")
        k.mutex_unlock(block)

    def detach(k):
        k.mutex_lock(block)
        k.use(heap, "list_del(&a->list)")
        k.mutex_unlock(block)
        k.kfree(table, "sg_free_table(a->table); kfree(a)")

    def cpu_access(k):
        k.mutex_lock(block)
        k.use(heap, "list_for_each_entry(a, &buffer->attachments): dma_sync_sgtable_for_cpu()")
        k.mutex_unlock(block)

    def release(k):
        k.kfree(heap, "system_heap_dma_buf_release(): free pages, kfree(buffer)")

    buf = d.dma_buf("dmabuf", live=True,
                    ops={"attach": attach, "detach": detach, "begin_cpu_access": cpu_access,
                         "end_cpu_access": cpu_access, "release": release})
    heap.live, heap.owners = True, ("dmabuf",)
    fd = d.slot("heap_fd", buf, kind="fd", installed=True)  # DMA_HEAP_IOCTL_ALLOC returned it
    att = d.attachment("attach", buf)

    @d.thread("importer", kernel="an importing driver: dma_buf_get(fd) ... dma_buf_put()")
    def importer(k):
        k.dma_buf_get(fd, fail="out")
        k.dma_buf_attach(att, fail="put")
        k.dma_buf_map_attachment(att, fail="detach")
        k.dma_buf_unmap_attachment(att)
        if bug == "heap-importer-put-while-attached":
            k.dma_buf_put(buf)
            k.dma_buf_detach(att)
            k.ret(0)
        k.label("detach")
        k.dma_buf_detach(att)
        k.label("put")
        k.dma_buf_put(buf)
        k.label("out")

    @d.thread("cpu", kernel="DMA_BUF_IOCTL_SYNC start/end on the fd")
    def cpu(k):
        k.dma_buf_get(fd, fail="out")
        k.dma_buf_begin_cpu_access(buf)
        k.dma_buf_end_cpu_access(buf)
        k.dma_buf_put(buf)
        k.label("out")

    @d.userspace("close", kernel="userspace closes the heap fd")
    def close(k):
        k.close(fd)

    @d.userspace("close_again", kernel="another thread of the process closes the same fd (one gets -EBADF)")
    def close_again(k):
        k.close(fd)

    return d


DESIGN = make()

BUGS = {
    "heap-importer-put-while-attached": Bug(
        NAME, "dma_buf_put before dma_buf_detach", "attach-holds-ref", ("REF-10", "REF-9"),
        "219b47339ced 'drm/prime: keep a reference from the handle to exported dma-buf (v6)' (the same bug as the "
        "design library's bug-put-while-attached, written as code paths)", "lifetime/refcount"),
}
