"""An exporter whose vunmap tears the kernel mapping down on every call.

Change to system-heap: the exporter's vunmap ignores other vmap users.

Source: f00b4dad9d9e 'dma-buf: implement vmap refcounting in the interface logic': 'All drivers which implement this
need to have some sort of refcount to allow concurrent vmap usage'

Caught by: vmap-count (CPU-7).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.system_heap import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-vmap-uncounted",
    title='An exporter whose vunmap tears the kernel mapping down on every call.',
    vmap_counted=False,
)

BUG = Bug(
    base="system-heap",
    change="the exporter's vunmap ignores other vmap users",
    property="vmap-count",
    rules=('CPU-7',),
    source=(
        "f00b4dad9d9e 'dma-buf: implement vmap refcounting in the interface logic': 'All drivers which "
        "implement this need to have some sort of refcount to allow concurrent vmap usage'"
    ),
    kind="vmap counting",
    kernel=None,
    mix='cpu=2',
    buffers=None,
)
