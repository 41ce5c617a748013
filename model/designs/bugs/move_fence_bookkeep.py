"""A pipelined move whose copy fence is added with BOOKKEEP usage instead of KERNEL.

Change to ttm-vram: the move fence is added with DMA_RESV_USAGE_BOOKKEEP.

Source: enum dma_resv_usage KERNEL doc (memory management fences everybody must wait for); the v5.19 usage conversion
'dma-buf: add enum dma_resv_usage v4' classified TTM move fences as KERNEL for exactly this reason

Caught by: kernel-fence-first (RESV-U1, MAP-7).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-move-fence-bookkeep",
    title='A pipelined move whose copy fence is added with BOOKKEEP usage instead of KERNEL.',
    move=replace(BASE.move, fence_usage="BOOKKEEP"),
)

BUG = Bug(
    base="ttm-vram",
    change='the move fence is added with DMA_RESV_USAGE_BOOKKEEP',
    property="kernel-fence-first",
    rules=('RESV-U1', 'MAP-7'),
    source=(
        'enum dma_resv_usage KERNEL doc (memory management fences everybody must wait for); the v5.19 usage '
        "conversion 'dma-buf: add enum dma_resv_usage v4' classified TTM move fences as KERNEL for exactly "
        'this reason'
    ),
    kind="fence order and signalling",
    kernel=None,
    mix='static=1,dynamic=1',
    buffers=None,
)
