"""A udmabuf-like exporter: a dma-buf over pinned memfd pages (drivers/dma-buf/udmabuf.c).

- the memfd folios are pinned when the udmabuf is created (export);
- map (map_udmabuf) allocates an sg table from the pages (GFP_KERNEL); before
  v6.16 udmabuf_ops set cache_sgt_mapping (MAP-11: one sg table per attachment);
- begin_cpu_access creates the exporter's own sg table on first use
  (GFP_KERNEL) and syncs it for the CPU; end_cpu_access syncs for the device;
- vmap (vm_map_ram) allocates the kernel mapping, with resv held by the core;
- mmap installs a fault handler that inserts the pinned pages, no lock;
- no attach/detach ops and no fences.
"""

from dmabuf_check.model.design import Design, Op

DESIGN = Design(
    name='x' * 100000,
    title="udmabuf-like exporter over pinned memfd pages (drivers/dma-buf/udmabuf.c)",
    follows="drivers/dma-buf/udmabuf.c",
    kernel="v6.16",
    ops={
        "map": Op(allocates="GFP_KERNEL"),
        "unmap": Op(),
        "release": Op(),
        "begin_cpu_access": Op(allocates="GFP_KERNEL"),
        "end_cpu_access": Op(),
        "vmap": Op(allocates="GFP_KERNEL"),
        "vunmap": Op(),
        "mmap": Op(),
    },
    allocate="export",
    cache_sgt_mapping=True,
    kinds=("static", "dynamic", "cpu"),
    mix={"static": 1, "dynamic": 1, "cpu": 1},
)
