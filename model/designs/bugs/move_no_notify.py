"""A TTM exporter that moves a buffer without calling dma_buf_move_notify().

Change to ttm-vram: the move does not notify dynamic importers.

Source: drm/xe dma-buf fixes (xe kernel MR !108, v3: 'Added a call to move_notify when moving dma-bufs. Needed
primarily for dma-buf eviction'); dma_buf_move_notify() kernel-doc

Caught by: no-migration-while-mapped (MIG-5, DYN-7).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-move-no-notify",
    title='A TTM exporter that moves a buffer without calling dma_buf_move_notify().',
    move=replace(BASE.move, notify=False),
)

BUG = Bug(
    base="ttm-vram",
    change='the move does not notify dynamic importers',
    property="no-migration-while-mapped",
    rules=('MIG-5', 'DYN-7'),
    source=(
        "drm/xe dma-buf fixes (xe kernel MR !108, v3: 'Added a call to move_notify when moving dma-bufs. "
        "Needed primarily for dma-buf eviction'); dma_buf_move_notify() kernel-doc"
    ),
    kind="migration without notify",
    kernel=None,
    mix='p2p=2',
    buffers=None,
    config='DMABUF_MOVE_NOTIFY=y',  # with n the core pins every dynamic map: no mapped buffer moves
)
