"""A fence signalling path that allocates with GFP_KERNEL.

Change to ttm-vram: the signalling path calls kmalloc(GFP_KERNEL).

Source: dma-fence.c DOC 'fence cross-driver contract' (shrinkers may wait on fences, so no GFP_KERNEL on a completion
path); 'dma-fence: prime lockdep annotations' (D. Vetter, 2020); dri-devel thread on panthor fault handling
(2025): 'any code required for fence completion cannot allocate memory with GFP_KERNEL'

Caught by: sig-no-alloc (SIG-3, MEM-1, DL-3).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-signal-allocates",
    title='A fence signalling path that allocates with GFP_KERNEL.',
    signalling=replace(BASE.signalling, allocates="GFP_KERNEL"),
)

BUG = Bug(
    base="ttm-vram",
    change='the signalling path calls kmalloc(GFP_KERNEL)',
    property="sig-no-alloc",
    rules=('SIG-3', 'MEM-1', 'DL-3'),
    source=(
        "dma-fence.c DOC 'fence cross-driver contract' (shrinkers may wait on fences, so no GFP_KERNEL on a "
        "completion path); 'dma-fence: prime lockdep annotations' (D. Vetter, 2020); dri-devel thread on "
        "panthor fault handling (2025): 'any code required for fence completion cannot allocate memory with "
        "GFP_KERNEL'"
    ),
    kind="allocation in the signalling path",
    kernel=None,
    mix='dynamic=2',
    buffers=None,
)
