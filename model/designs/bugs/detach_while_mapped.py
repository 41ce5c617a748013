"""An importer that detaches while its mapping is still live.

Change to vb2-camera: dma_buf_detach with a live mapping.

Source: de68b17d5d07 'dma-buf: dma-buf: stop mapping sg_tables on attach v2' (v6.16): detach no longer cleans up a
cached mapping, so importers relying on it keep a mapping past detach; DOC 'dma buf device access' step 4

Caught by: map-after-attach (ATT-7, MAP-1).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.vb2_camera import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-detach-while-mapped",
    title='An importer that detaches while its mapping is still live.',
    importer=replace(BASE.importer, unmaps_before_detach=False),
)

BUG = Bug(
    base="vb2-camera",
    change='dma_buf_detach with a live mapping',
    property="map-after-attach",
    rules=('ATT-7', 'MAP-1'),
    source=(
        "de68b17d5d07 'dma-buf: dma-buf: stop mapping sg_tables on attach v2' (v6.16): detach no longer "
        "cleans up a cached mapping, so importers relying on it keep a mapping past detach; DOC 'dma buf "
        "device access' step 4"
    ),
    kind="map/attach bracketing",
    kernel=None,
    mix='static=2',
    buffers=None,
)
