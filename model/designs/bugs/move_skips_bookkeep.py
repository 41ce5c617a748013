"""An eviction that waits with the implicit-sync usage and so misses BOOKKEEP fences.

Change to ttm-vram: the move waits for DMA_RESV_USAGE_READ instead of BOOKKEEP.

Source: 'drm/msm: Use DMA_RESV_USAGE_BOOKKEEP/KERNEL' (Rob Clark, May 2025): the shrinker's wait_for_idle used
dma_resv_usage_rw(true) (READ); 'any place we wait for a BO to become idle, we should use BOOKKEEP usage'

Caught by: dma-targets-current-storage (MIG-6, RESV-U1).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-move-skips-bookkeep",
    title='An eviction that waits with the implicit-sync usage and so misses BOOKKEEP fences.',
    move=replace(BASE.move, waits="READ"),
)

BUG = Bug(
    base="ttm-vram",
    change='the move waits for DMA_RESV_USAGE_READ instead of BOOKKEEP',
    property="dma-targets-current-storage",
    rules=('MIG-6', 'RESV-U1'),
    source=(
        "'drm/msm: Use DMA_RESV_USAGE_BOOKKEEP/KERNEL' (Rob Clark, May 2025): the shrinker's wait_for_idle "
        "used dma_resv_usage_rw(true) (READ); 'any place we wait for a BO to become idle, we should use "
        "BOOKKEEP usage'"
    ),
    kind="migration without fence wait",
    kernel=None,
    mix='p2p=2',
    buffers=None,
    config='DMABUF_MOVE_NOTIFY=y',  # with n the core pins every dynamic map: no mapped buffer moves
)
