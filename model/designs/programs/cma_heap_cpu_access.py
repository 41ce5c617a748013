"""cma_heap's begin/end_cpu_access read buffer->vmap_cnt and buffer->vaddr outside buffer->lock, racing
with cma_heap_vunmap(), which under the lock drops the count, vunmap()s and clears vaddr.

54329e6f7bea 'dma-buf: cma_heap: Fix mutex locking section' (drivers/dma-buf/heaps/cma_heap.c, v5.17;
Fixes a5d2d29e24be). The fix takes buffer->lock before the vmap_cnt test.
"""
from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "cma-heap-cpu-access"


def _program(fixed: bool, name: str) -> Driver:
    d = Driver(name, follows="drivers/dma-buf/heaps/cma_heap.c",
               kernel="v5.9")
    # struct cma_heap_buffer, dmabuf->priv: the dma-buf's release frees it
    buffer = d.kref("buffer", live=True, owners=("cma_dmabuf",), kernel="struct cma_heap_buffer")
    lock = d.mutex("buffer->lock")
    vmap_cnt = d.field("buffer->vmap_cnt", max_value=1, kernel="cma_heap_buffer.vmap_cnt")
    area = d.mem("vmap_area", kernel="the vm_struct vmap() creates for the buffer's pages")
    vaddr = d.pointer("buffer->vaddr", (area,))

    def cma_heap_vmap(k):
        k.mutex_lock(lock)
        k.kzalloc(area, fail="enomem", text="vaddr = cma_heap_do_vmap(buffer): vmap(buffer->pages, ...)")
        k.ptr_store(vaddr, area, "buffer->vaddr = vaddr")
        k.inc(vmap_cnt, "buffer->vmap_cnt++")
        k.mutex_unlock(lock)
        k.ret(0)
        k.label("enomem")
        k.mutex_unlock(lock)
        k.ret("-ENOMEM")

    def cma_heap_vunmap(k):
        k.mutex_lock(lock)
        # if (!--buffer->vmap_cnt): the core's vmapping_counter makes this call the last one
        k.dec(vmap_cnt, text="if (!--buffer->vmap_cnt)")
        old = k.ptr_xchg(vaddr, None, "vunmap(buffer->vaddr); buffer->vaddr = NULL", var="vaddr")
        k.kfree(old, "vunmap(): the vm area goes")
        k.mutex_unlock(lock)

    def kernel_vmap_range(k, what):
        # if (buffer->vmap_cnt) invalidate/flush_kernel_vmap_range(buffer->vaddr, buffer->len);
        k.goto_if(vmap_cnt.value == 0, "no_vmap", text="if (buffer->vmap_cnt)")
        v = k.ptr_load(vaddr, var="vaddr")
        k.use(v, f"{what}(buffer->vaddr, buffer->len)")
        k.label("no_vmap")

    def cpu_access(what):
        def op(k, direction):
            if fixed:
                k.mutex_lock(lock)
                kernel_vmap_range(k, what)
            else:
                kernel_vmap_range(k, what)
                k.mutex_lock(lock)
            k.use(buffer, "list_for_each_entry(a, &buffer->attachments, list) "
                  f"dma_sync_sgtable_for_*(a->dev, &a->table, {direction})")
            k.mutex_unlock(lock)
            k.ret(0)
        return op

    buf = d.dma_buf("cma_dmabuf", live=True, owners=("importer", "user"),
                    ops={"vmap": cma_heap_vmap, "vunmap": cma_heap_vunmap,
                         "begin_cpu_access": cpu_access("invalidate_kernel_vmap_range"),
                         "end_cpu_access": cpu_access("flush_kernel_vmap_range"),
                         "release": lambda k: k.kref_put(buffer, "cma_heap_dma_buf_release(): kfree(buffer)")})

    @d.thread("importer", kernel="a kernel importer: dma_buf_vmap(), CPU reads, dma_buf_vunmap()")
    def importer(k):
        k.dma_buf_vmap(buf, fail="out")
        k.cpu_access(buf, "memcpy from the vmap")
        k.dma_buf_vunmap(buf)
        k.label("out")
        k.dma_buf_put(buf)

    @d.userspace("user", kernel="DMA_BUF_IOCTL_SYNC(SYNC_START/SYNC_END) on the heap fd")
    def user(k):
        k.dma_buf_begin_cpu_access(buf, "DMA_FROM_DEVICE")
        k.dma_buf_end_cpu_access(buf, "DMA_FROM_DEVICE")
        k.dma_buf_put(buf)

    return d


def make(bug: str | None = None) -> Driver:
    return _program(bug is None, NAME if bug is None else f"bug-{bug}")


DESIGN = make()

BUGS = {
    "cma-heap-vmap-cnt-unlocked": Bug(
        NAME, 'begin/end_cpu_access test buffer->vmap_cnt and use buffer->vaddr before taking buffer->lock, racing vunmap',
        'null-deref', ('KOBJ-5', 'KOBJ-1'),
        "54329e6f7bea 'dma-buf: cma_heap: Fix mutex locking section'", 'state read outside its lock'),
}
