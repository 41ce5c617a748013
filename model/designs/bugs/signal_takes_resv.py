"""A fence completion worker that takes the buffer's reservation lock.

Change to ttm-vram: the signalling path takes dma_resv_lock.

Source: dma-fence.c DOC 'fence cross-driver contract'; the dri-devel report citing 47e982d5195d (v6.2 locking): an
importer calling dma_buf_unmap_attachment, which needs resv, from a fence-done path deadlocks against a waiter
holding resv

Caught by: sig-no-resv-lock (SIG-3, DL-2, DL-8).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-signal-takes-resv",
    title="A fence completion worker that takes the buffer's reservation lock.",
    signalling=replace(BASE.signalling, locks=("resv",)),
)

BUG = Bug(
    base="ttm-vram",
    change='the signalling path takes dma_resv_lock',
    property="sig-no-resv-lock",
    rules=('SIG-3', 'DL-2', 'DL-8'),
    source=(
        "dma-fence.c DOC 'fence cross-driver contract'; the dri-devel report citing 47e982d5195d (v6.2 "
        'locking): an importer calling dma_buf_unmap_attachment, which needs resv, from a fence-done path '
        'deadlocks against a waiter holding resv'
    ),
    kind="lock held across a fence wait",
    kernel=None,
    mix='dynamic=2',
    buffers=None,
)
