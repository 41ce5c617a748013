"""The dma-heap system heap (drivers/dma-buf/heaps/system_heap.c).

- pages are allocated when the heap creates the buffer (export);
- attach duplicates the sg table (GFP_KERNEL) and links the attachment under
  the heap buffer's own mutex ``buffer->lock``; detach unlinks under it;
- map/unmap only DMA-map the attachment's table (the core holds resv);
- begin/end_cpu_access sync every mapped attachment under ``buffer->lock``;
- vmap/vunmap keep the heap's own vmap count under ``buffer->lock`` and vmap
  allocates the kernel mapping (GFP_KERNEL); the core holds resv around them
  (v6.2+), so the order is resv -> buffer->lock everywhere;
- mmap remaps the pages without any lock (the v6.2 resv assertion was reverted);
- no fences: the heap does no device work of its own.
"""

from dmabuf_check.model.design import Design, Op

DESIGN = Design(
    name="system-heap",
    title="dma-heap system heap (drivers/dma-buf/heaps/system_heap.c)",
    follows="drivers/dma-buf/heaps/system_heap.c",
    kernel="v6.16",
    locks=("lock",),
    lock_order=("resv", "lock"),
    ops={
        "attach": Op(locks=("lock",), allocates="GFP_KERNEL"),
        "detach": Op(locks=("lock",)),
        "map": Op(),
        "unmap": Op(),
        "release": Op(),
        "begin_cpu_access": Op(locks=("lock",)),
        "end_cpu_access": Op(locks=("lock",)),
        "vmap": Op(locks=("lock",), allocates="GFP_KERNEL"),
        "vunmap": Op(locks=("lock",)),
        "mmap": Op(),
    },
    allocate="export",
    kinds=("static", "dynamic", "cpu"),
    mix={"static": 1, "dynamic": 1, "cpu": 1},
)
