"""A dynamic importer that starts device work without waiting for the exporter's KERNEL (move) fence.

Change to ttm-vram: device access while the move copy is in flight.

Source: struct dma_buf resv doc 'DYNAMIC IMPORTER RULES' (obey KERNEL/WRITE fences before access); 'drm/amdgpu:
promote the implicit sync to the dependent read fences' (BOOKKEEP vs implicit sync)

Caught by: kernel-fence-first (DYN-9, RESV-U1).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-ignores-kernel-fence",
    title="A dynamic importer that starts device work without waiting for the exporter's KERNEL (move) fence.",
    importer=replace(BASE.importer, waits_kernel_fences=False),
)

BUG = Bug(
    base="ttm-vram",
    change='device access while the move copy is in flight',
    property="kernel-fence-first",
    rules=('DYN-9', 'RESV-U1'),
    source=(
        "struct dma_buf resv doc 'DYNAMIC IMPORTER RULES' (obey KERNEL/WRITE fences before access); "
        "'drm/amdgpu: promote the implicit sync to the dependent read fences' (BOOKKEEP vs implicit sync)"
    ),
    kind="stale mapping",
    kernel=None,
    mix='dynamic=1',
    buffers=None,
    config='DMABUF_MOVE_NOTIFY=y',  # with n the core pins every dynamic map: no mapped buffer moves
)
