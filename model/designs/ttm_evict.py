"""Two TTM buffers: eviction and command submission lock both reservation objects (ww_mutex).

The ttm-vram exporter with two buffers. Importers submit jobs that use both
buffers, locking the two resvs in either order within one ww acquire
context, backing off on -EDEADLK with lock_slow (drm_exec, RESV-W2). The
exporter validates buffer 0 and evicts buffer 1 from VRAM while holding
buffer 0's resv, locking buffer 1's with its own acquire context and giving
up on -EDEADLK (ttm_bo_evict / ttm_mem_evict_first with a ticket, RESV-W1).
Follows drivers/gpu/drm/ttm/ttm_bo.c, drivers/gpu/drm/drm_exec.c.
"""

from dataclasses import replace

from dmabuf_check.model.design import Evict, Move
from dmabuf_check.model.designs.ttm_vram import DESIGN as TTM

DESIGN = replace(
    TTM,
    name="ttm-evict",
    title="two TTM buffers: eviction and submissions under ww acquire contexts",
    follows="drivers/gpu/drm/ttm/ttm_bo.c; drivers/gpu/drm/drm_exec.c",
    buffers=2,
    evict=Evict(locks=("resv", "resv_other"), ww=True),
    move=Move(locks=("resv",), notify=True, waits="BOOKKEEP", pipelined=False),
    submit=None,  # the exporter's own jobs and pipelined moves are checked in ttm-vram; here: the locking
    signalling=None,
    kinds=("static", "dynamic", "p2p"),
    mix={"static": 1, "dynamic": 1},
)
