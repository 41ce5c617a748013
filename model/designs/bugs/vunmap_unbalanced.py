"""A kernel CPU user that calls dma_buf_vunmap without a matching dma_buf_vmap.

Change to system-heap: dma_buf_vunmap without a vmap.

Source: f00b4dad9d9e 'dma-buf: implement vmap refcounting in the interface logic' (BUG_ON on an unbalanced vunmap and
a mismatched pointer)

Caught by: vunmap-balanced (CPU-7).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.system_heap import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-vunmap-unbalanced",
    title='A kernel CPU user that calls dma_buf_vunmap without a matching dma_buf_vmap.',
    importer=replace(BASE.importer, balanced_vmap=False),
)

BUG = Bug(
    base="system-heap",
    change='dma_buf_vunmap without a vmap',
    property="vunmap-balanced",
    rules=('CPU-7',),
    source=(
        "f00b4dad9d9e 'dma-buf: implement vmap refcounting in the interface logic' (BUG_ON on an unbalanced "
        'vunmap and a mismatched pointer)'
    ),
    kind="vmap counting",
    kernel=None,
    mix='cpu=2',
    buffers=None,
)
