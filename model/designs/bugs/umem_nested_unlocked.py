"""A dynamic importer that holds resv and calls the _unlocked map/unmap variants.

Change to ttm-vram: dma_buf_map_attachment_unlocked under the caller's resv.

Source: 'RDMA/umem: Use dma-buf locked API to solve deadlock' (Jan 2023), Fixes: 21c9c5c0784f ('RDMA/umem: Prepare to
dynamic dma-buf locking specification'): 'the lock is held while calling to these functions'

Caught by: no-recursive-lock (DL-14, LOCK-2).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-umem-nested-unlocked",
    title='A dynamic importer that holds resv and calls the _unlocked map/unmap variants.',
    importer=replace(BASE.importer, nested_map_lock=True),
)

BUG = Bug(
    base="ttm-vram",
    change="dma_buf_map_attachment_unlocked under the caller's resv",
    property="no-recursive-lock",
    rules=('DL-14', 'LOCK-2'),
    source=(
        "'RDMA/umem: Use dma-buf locked API to solve deadlock' (Jan 2023), Fixes: 21c9c5c0784f ('RDMA/umem: "
        "Prepare to dynamic dma-buf locking specification'): 'the lock is held while calling to these "
        "functions'"
    ),
    kind="map/attach bracketing",
    kernel=None,
    mix='dynamic=1',
    buffers=None,
)
