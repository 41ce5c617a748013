"""A TTM exporter that reuses the old placement without waiting for the importers' fences.

Change to ttm-vram: the move does not wait for the fences in the resv.

Source: enum dma_resv_usage KERNEL/BOOKKEEP doc and struct dma_buf resv 'DYNAMIC IMPORTER RULES': the exporter must
wait for (or pipeline behind) every fence before reusing the memory

Caught by: dma-targets-current-storage (MIG-6, DYN-9).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-move-no-fence-wait",
    title="A TTM exporter that reuses the old placement without waiting for the importers' fences.",
    move=replace(BASE.move, waits=None),
)

BUG = Bug(
    base="ttm-vram",
    change='the move does not wait for the fences in the resv',
    property="dma-targets-current-storage",
    rules=('MIG-6', 'DYN-9'),
    source=(
        "enum dma_resv_usage KERNEL/BOOKKEEP doc and struct dma_buf resv 'DYNAMIC IMPORTER RULES': the "
        'exporter must wait for (or pipeline behind) every fence before reusing the memory'
    ),
    kind="migration without fence wait",
    kernel=None,
    mix='p2p=2',
    buffers=None,
    config='DMABUF_MOVE_NOTIFY=y',  # with n the core pins every dynamic map: no mapped buffer moves
)
