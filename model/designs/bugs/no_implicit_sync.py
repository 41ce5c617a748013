"""An importer whose jobs ignore the implicit fences of the other devices on the buffer.

Change to ttm-vram: a job's scheduler dependencies leave out the fences already in the resv, so a
write runs while another device still reads or writes the same buffer.

Source: struct dma_buf resv doc 'IMPLICIT SYNCHRONIZATION RULES' (SYNC-1: collect dependencies with
dma_resv_usage_rw()); drm_sched_job_add_implicit_dependencies(), which drivers call so the scheduler
runs a job only after the fences it must wait for

Caught by: implicit-sync-devices (SYNC-1, SYNC-2).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-no-implicit-sync",
    title="An importer whose jobs ignore the implicit fences of the other devices on the buffer.",
    importer=replace(BASE.importer, implicit_sync=False),
)

BUG = Bug(
    base="ttm-vram",
    change="a job's scheduler dependencies leave out the implicit fences already in the resv",
    property="implicit-sync-devices",
    rules=("SYNC-1", "SYNC-2"),
    source=(
        "struct dma_buf resv doc 'IMPLICIT SYNCHRONIZATION RULES'; dma_resv_usage_rw(); "
        "drm_sched_job_add_implicit_dependencies()"
    ),
    kind="implicit sync",
    kernel=None,
    mix="dynamic=2",
    buffers=None,
)
