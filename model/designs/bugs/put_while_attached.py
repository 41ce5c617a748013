"""An importer that drops its dma-buf reference before detaching.

Change to system-heap: dma_buf_put before dma_buf_detach.

Source: 219b47339ced 'drm/prime: keep a reference from the handle to exported dma-buf (v6)' (an importer's object
outliving the dma-buf reference); dma-buf.c DOC 'dma buf device access' steps 2 and 4

Caught by: attach-holds-ref (REF-10, REF-9).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.system_heap import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-put-while-attached",
    title='An importer that drops its dma-buf reference before detaching.',
    importer=replace(BASE.importer, holds_ref_while_attached=False),
)

BUG = Bug(
    base="system-heap",
    change='dma_buf_put before dma_buf_detach',
    property="attach-holds-ref",
    rules=('REF-10', 'REF-9'),
    source=(
        "219b47339ced 'drm/prime: keep a reference from the handle to exported dma-buf (v6)' (an importer's "
        "object outliving the dma-buf reference); dma-buf.c DOC 'dma buf device access' steps 2 and 4"
    ),
    kind="lifetime/refcount",
    kernel=None,
    mix='static=2',
    buffers=None,
)
