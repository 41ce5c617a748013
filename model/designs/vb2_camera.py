"""A videobuf2-like camera exporter (drivers/media/common/videobuf2/videobuf2-dma-contig.c).

- buffers are allocated at VIDIOC_REQBUFS, before export;
- attach (vb2_dc_dmabuf_ops_attach) copies the buffer's sg table for the
  attachment (GFP_KERNEL); map maps it once and caches it per attachment;
  from v6.2 it no longer takes the dma-buf's internal lock (the core holds
  resv, "media: videobuf2: Stop using internal dma-buf lock");
- vmap returns the kernel address made at allocation; mmap maps the
  contiguous buffer; begin/end_cpu_access are plain cache syncs;
- capture is synchronous V4L2 I/O: no fences (SYNC-1).
"""

from dmabuf_check.model.design import Design, Op

DESIGN = Design(
    name="vb2-camera",
    title="videobuf2-like camera exporter (videobuf2-dma-contig.c)",
    follows="drivers/media/common/videobuf2/videobuf2-dma-contig.c",
    kernel="v6.16",
    ops={
        "attach": Op(allocates="GFP_KERNEL"),
        "detach": Op(),
        "map": Op(),
        "unmap": Op(),
        "release": Op(),
        "begin_cpu_access": Op(),
        "end_cpu_access": Op(),
        "vmap": Op(),
        "vunmap": Op(),
        "mmap": Op(),
    },
    allocate="export",
    kinds=("static", "dynamic", "cpu"),
    mix={"static": 2, "cpu": 1},
)
