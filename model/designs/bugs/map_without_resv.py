"""A dynamic importer that maps without holding the reservation lock.

Change to ttm-vram: dma_buf_map_attachment called without resv held.

Source: dma_buf_map_attachment(): dma_resv_assert_held(); the v6.2 importer conversions ('RDMA/umem: Prepare to
dynamic dma-buf locking specification', 21c9c5c0784f, and its follow-up fix)

Caught by: map-holds-resv (LOCK-1, MAP-2, DYN-8).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-map-without-resv",
    title='A dynamic importer that maps without holding the reservation lock.',
    importer=replace(BASE.importer, locks_for_map=False),
)

BUG = Bug(
    base="ttm-vram",
    change='dma_buf_map_attachment called without resv held',
    property="map-holds-resv",
    rules=('LOCK-1', 'MAP-2', 'DYN-8'),
    source=(
        "dma_buf_map_attachment(): dma_resv_assert_held(); the v6.2 importer conversions ('RDMA/umem: Prepare"
        " to dynamic dma-buf locking specification', 21c9c5c0784f, and its follow-up fix)"
    ),
    kind="map/attach bracketing",
    kernel=None,
    mix='dynamic=1',
    buffers=None,
)
