"""The exporter holds its job lock while waiting for fences that its IRQ path signals under the same lock.

Change to ttm-vram: the move takes the driver's job lock around its fence wait (a CPU-copy move, which waits for
the fences with ttm_bo_wait_ctx(); a pipelined one hands them to the copy job instead); the signalling path
takes the lock too.

Source: 'drm/v3d: create a dedicated lock for dma fence' (2025, raspberrypi/linux#7112): 'Don't mix dma fence lock
with the active_job lock' (system freeze under PREEMPT_RT); DL-1 in dma-fence.c DOC 'fence signalling
annotation'

Caught by: no-fence-wait-deadlock (DL-1, SIG-3).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-lock-across-fence-wait",
    title=(
        'The exporter holds its job lock while waiting for fences that its IRQ path signals under the same '
        'lock.'
    ),
    locks=("job_lock",), move=replace(BASE.move, locks=("job_lock", "resv"), pipelined=False),
    signalling=replace(BASE.signalling, locks=("job_lock",)),
)

BUG = Bug(
    base="ttm-vram",
    change="the move takes the driver's job lock around its CPU fence wait; the signalling path takes it too",
    property="no-fence-wait-deadlock",
    rules=('DL-1', 'SIG-3'),
    source=(
        "'drm/v3d: create a dedicated lock for dma fence' (2025, raspberrypi/linux#7112): 'Don't mix dma "
        "fence lock with the active_job lock' (system freeze under PREEMPT_RT); DL-1 in dma-fence.c DOC "
        "'fence signalling annotation'"
    ),
    kind="lock held across a fence wait",
    kernel=None,
    mix='dynamic=2',
    buffers=None,
)
