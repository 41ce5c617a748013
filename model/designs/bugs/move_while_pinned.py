"""A TTM exporter whose eviction ignores the pin count.

Change to ttm-vram: the move does not skip a pinned buffer.

Source: the pin contract of bb42df4662a4 'dma-buf: add dynamic DMA-buf handling v15' (pin is called for importers that
need the DMA-buf locked in place); dma_buf_ops.pin doc: after pin the buffer must not move

Caught by: no-migration-while-mapped (MIG-4, MAP-8).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-move-while-pinned",
    title='A TTM exporter whose eviction ignores the pin count.',
    move=replace(BASE.move, respects_pins=False),
)

BUG = Bug(
    base="ttm-vram",
    change='the move does not skip a pinned buffer',
    property="no-migration-while-mapped",
    rules=('MIG-4', 'MAP-8'),
    source=(
        "the pin contract of bb42df4662a4 'dma-buf: add dynamic DMA-buf handling v15' (pin is called for "
        'importers that need the DMA-buf locked in place); dma_buf_ops.pin doc: after pin the buffer must not'
        ' move'
    ),
    kind="migration while pinned",
    kernel=None,
    mix='static=1,p2p=1',
    buffers=None,
)
