"""amdgpu_dma_buf_pin before the fix: the pin returns while the pipelined move still copies.

Change to ttm-vram: the pin op does not wait for the move fence.

Source: 8ddf5b9bb479 'drm/amdgpu: wait for moving fence after pinning' (June 2021, CC stable; radeon 4b41726aae56 and
nouveau 17b11f71795a got the same fix): 'We actually need to wait for the moving fence after pinning the BO'

Caught by: kernel-fence-first (DYN-5, RESV-U1).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug, Op
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-pin-no-moving-wait",
    title='amdgpu_dma_buf_pin before the fix: the pin returns while the pipelined move still copies.',
    ops={**BASE.ops, "pin": Op()},
)

BUG = Bug(
    base="ttm-vram",
    change='the pin op does not wait for the move fence',
    property="kernel-fence-first",
    rules=('DYN-5', 'RESV-U1'),
    source=(
        "8ddf5b9bb479 'drm/amdgpu: wait for moving fence after pinning' (June 2021, CC stable; radeon "
        "4b41726aae56 and nouveau 17b11f71795a got the same fix): 'We actually need to wait for the moving "
        "fence after pinning the BO'"
    ),
    kind="fence order and signalling",
    kernel='v5.7',
    mix='static=1,dynamic=1',
    buffers=None,
)
