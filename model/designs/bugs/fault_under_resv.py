"""An exporter submission that copies its arguments from user space while holding the resv.

Change to ttm-vram: copy_from_user() inside the resv critical section.

Source: 'dma_resv: prime lockdep annotations' (D. Vetter, 2019: mmap_lock is outside resv, copy_*_user moved out of
resv sections); 2f568dbd6b94 'drm/amdgpu: move get_user_pages out of amdgpu_ttm_tt_pin_userptr v6' (lock
inversion between the BO reservation lock and mm locks)

Caught by: lock-order (RESV-L2, DL-6).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-fault-under-resv",
    title='An exporter submission that copies its arguments from user space while holding the resv.',
    submit=replace(BASE.submit, faults=True),
)

BUG = Bug(
    base="ttm-vram",
    change='copy_from_user() inside the resv critical section',
    property="lock-order",
    rules=('RESV-L2', 'DL-6'),
    source=(
        "'dma_resv: prime lockdep annotations' (D. Vetter, 2019: mmap_lock is outside resv, copy_*_user moved"
        " out of resv sections); 2f568dbd6b94 'drm/amdgpu: move get_user_pages out of "
        "amdgpu_ttm_tt_pin_userptr v6' (lock inversion between the BO reservation lock and mm locks)"
    ),
    kind="lock held across a fence wait",
    kernel=None,
    mix='static=1,dynamic=1',
    buffers=None,
)
