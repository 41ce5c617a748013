"""A TTM-style dynamic exporter with VRAM and system placement (amdgpu).

Follows drivers/gpu/drm/amd/amdgpu/amdgpu_dma_buf.c and drivers/gpu/drm/ttm:

- pin/unpin (amdgpu_dma_buf_pin/unpin) make the exporter dynamic (DYN-1);
  pin runs with resv held, places the buffer where every attachment reaches it
  and waits for the pipelined move before returning (DYN-5);
- map (amdgpu_dma_buf_map) validates a non-p2p attachment into system memory
  (GTT) first, which is a TTM move: move_notify to the other importers, then
  the copy (MIG-3/5/6, DYN-10);
- moves are pipelined: the copy engine's fence is added to the resv with
  KERNEL usage and everyone waits for it (RESV-U1, MAP-7);
- begin_cpu_access reserves the BO itself (it is called without resv, CPU-3);
- vmap pins the BO so the kernel mapping stays valid (MIG-4);
- the driver's own command submission adds WRITE fences after reserving a slot
  in the same lock hold; its fences are signalled from the IRQ handler, which
  takes no locks and does not allocate (SIG-3).
"""

from dmabuf_check.model.design import Design, Move, Op, Signalling, Submit

DESIGN = Design(
    name="ttm-vram",
    title="TTM-style dynamic VRAM/system exporter (amdgpu_dma_buf.c)",
    follows="drivers/gpu/drm/amd/amdgpu/amdgpu_dma_buf.c; drivers/gpu/drm/ttm/ttm_bo.c",
    kernel="v6.16",
    ops={
        "attach": Op(),
        "detach": Op(),
        "pin": Op(waits="KERNEL"),
        "unpin": Op(),
        "map": Op(allocates="GFP_KERNEL"),
        "unmap": Op(),
        "release": Op(),
        "begin_cpu_access": Op(locks=("resv",)),
        "end_cpu_access": Op(),
        "vmap": Op(pins=True),
        "vunmap": Op(),
        "mmap": Op(),
    },
    placements=("SYS", "VRAM"),
    p2p=True,
    move=Move(locks=("resv",), notify=True, waits="BOOKKEEP", pipelined=True, fence_usage="KERNEL"),
    submit=Submit(locks=("resv",), usage="WRITE"),
    signalling=Signalling(locks=(), allocates=None),
    kinds=("static", "dynamic", "p2p", "cpu"),
    mix={"static": 1, "dynamic": 1, "p2p": 1},
)
