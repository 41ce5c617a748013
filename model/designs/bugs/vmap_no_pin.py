"""A TTM exporter whose vmap does not pin the buffer object.

Change to ttm-vram: vmap does not pin, so the BO can move under the kernel mapping.

Source: 2236439bc667 'drm/vram: Implement lazy unmapping for GEM VRAM buffers' (a kernel mapping must be torn down
when the memory manager evicts the BO, hence drm_gem_vram_vmap() pins)

Caught by: vmap-stays-put (MIG-4, CPU-7).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug, Op
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-vmap-no-pin",
    title='A TTM exporter whose vmap does not pin the buffer object.',
    ops={**BASE.ops, "vmap": Op()},
)

BUG = Bug(
    base="ttm-vram",
    change='vmap does not pin, so the BO can move under the kernel mapping',
    property="vmap-stays-put",
    rules=('MIG-4', 'CPU-7'),
    source=(
        "2236439bc667 'drm/vram: Implement lazy unmapping for GEM VRAM buffers' (a kernel mapping must be "
        'torn down when the memory manager evicts the BO, hence drm_gem_vram_vmap() pins)'
    ),
    kind="vmap counting",
    kernel=None,
    mix='cpu=1',
    buffers=None,
)
