"""A dynamic importer that keeps using its mapping after move_notify.

Change to ttm-vram: the importer submits jobs through an invalidated mapping.

Source: dma_buf_attach_ops.move_notify doc (mappings must be destroyed and recreated as soon as possible); xe MR !108:
'evicting a ttm sg-type bo ... now means we trigger a rebind and a new call to dma_buf_map_attachment()'

Caught by: dma-targets-current-storage (DYN-7, MIG-5).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-stale-mapping-submit",
    title='A dynamic importer that keeps using its mapping after move_notify.',
    importer=replace(BASE.importer, remaps_stale=False),
)

BUG = Bug(
    base="ttm-vram",
    change='the importer submits jobs through an invalidated mapping',
    property="dma-targets-current-storage",
    rules=('DYN-7', 'MIG-5'),
    source=(
        'dma_buf_attach_ops.move_notify doc (mappings must be destroyed and recreated as soon as possible); '
        "xe MR !108: 'evicting a ttm sg-type bo ... now means we trigger a rebind and a new call to "
        "dma_buf_map_attachment()'"
    ),
    kind="stale mapping",
    kernel=None,
    mix='dynamic=2',
    buffers=None,
    config='DMABUF_MOVE_NOTIFY=y',  # with n the core pins every dynamic map: no mapped buffer moves
)
