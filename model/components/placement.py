"""Backing storage: placement, allocation, pinning, and migration (MIG, DYN-5/6/10, MAP-13 rules).

Per buffer: ``storage`` (UNALLOC until the design's allocation point, then a
placement of the design: SYS, or VRAM for a device-memory exporter) and the
pin count ``pins`` (every reason the storage must not move: static
mappings, attach-time pins, importer pins for scanout, vmap pins).

A move is the exporter's own operation (TTM eviction/validation, MIG-3): it
takes the locks the design lists, skips a pinned buffer (MIG-4), notifies
dynamic importers (MIG-5: their mappings go stale), waits for the fences of
the design's usage class (MIG-6), then switches placement. A pipelined move
does not wait on the CPU: its copy job depends on those fences on the GPU and
runs behind a fence of its own, while TTM's ghost object keeps the old
placement for the jobs the copy waits for (ttm_bo_move_accel_cleanup).
``migrate`` emits the same steps
inside other calls (a map or pin that must bring VRAM to system memory for
a non-p2p importer). The 2011 contract moved storage by stalling new maps
until every mapping was gone (MIG-1).
"""

from __future__ import annotations

from dmabuf_check.model.components import fence
from dmabuf_check.model.components.buffer import DYNAMIC_LIKE, lock_for
from dmabuf_check.model.components.context import BuildContext, foreach
from dmabuf_check.model.components.program import Program
from dmabuf_check.model.design import Design
from dmabuf_check.model.expr import Expr, conj, disj, forall, ite, lift
from dmabuf_check.model.lang import assign, when
from dmabuf_check.model.profiles import Profile
from dmabuf_check.model.types import BOOL, Enum, Range


def pin_sources(cx: BuildContext, d: Design, p: Profile) -> dict[str, bool]:
    """Which reasons to pin exist in this build (the pin-count property sums exactly these)."""
    kinds = set(cx.info.kinds)
    dyn_exp = d.dynamic and p.dynamic
    return {
        "attach_op": "attach" in d.ops and d.ops["attach"].pins and bool(kinds & {"static", "dynamic", "p2p"}),
        "attach_core": dyn_exp and p.attach_maps_mismatched and "static" in kinds,
        "map_core": dyn_exp and p.pin_on_map and "static" in kinds,
        # CONFIG_DMABUF_MOVE_NOTIFY=n: dma_buf_map_attachment() pins for a dynamic importer's every map too
        "map_dyn_core": dyn_exp and not cx.info.facts.get("move_notify", True) and bool(kinds & {"dynamic", "p2p"}),
        "map_op": d.map_pins and bool(kinds & {"static", "dynamic", "p2p"}),
        "importer": dyn_exp and d.importer.pins and bool(kinds & {"dynamic", "p2p"}),
        "vmap": "vmap" in d.ops and d.ops["vmap"].pins and "cpu" in kinds and p.cpu_access,
    }


def declare(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    init = "UNALLOC" if d.allocate != "export" else d.placements[0]
    cx.var("storage", b, Enum("storage", "UNALLOC", *d.placements), init, kernel="backing storage placement",
           meaning="where the backing storage is; UNALLOC before the design's allocation point", rule="MAP-13")
    src = pin_sources(cx, d, p)
    cx.info.facts["pin_sources"] = src
    if any(src.values()):
        n = cx.I.size
        cx.var("pins", b, Range(0, 2 * n + 1), 0, kernel="pin count (dma_buf_pin / drm_gem_pin)",
               meaning="reasons the backing storage must not move", rule="MIG-4")
    if d.move is not None and p.migration == "stall" and len(d.placements) > 1:
        cx.var("migrating", b, BOOL, 0, kernel="exporter migration in progress",
               meaning="the exporter stalls new maps until every mapping is gone", rule="MIG-1")


def other(storage: Expr) -> Expr:
    return ite(storage == "SYS", "VRAM", "SYS")


def allocate(cx: BuildContext, d: Design, prog: Program, b: int, gfp: str | None) -> None:
    """Lazy allocation (MAP-13): the first user allocates backing storage in the design's first placement."""
    storage = cx.g("storage", b)
    prog.alloc(gfp or "GFP_KERNEL", "allocate backing storage")
    prog.do(when(storage == "UNALLOC", storage, d.placements[0]))


def notify_effects(cx: BuildContext, b: int) -> list:
    """dma_buf_move_notify: every dynamic importer's mapping goes stale (MIG-5); static ones are pinned."""
    if not cx.has("stale", b):
        return []
    mp, stale, kind = cx.a("map", b), cx.a("stale", b), cx.a("kind")
    return [foreach(cx.I, lambda j: [when(conj(mp[j] == 1, disj(*(kind[j] == k for k in DYNAMIC_LIKE))),
                                          stale[j], 1)])]


def wait_fences(cx: BuildContext, d: Design, p: Profile, prog: Program, b: int, cls: str | None,
                what: str = "dma_resv_wait_timeout", tag: str = "") -> None:
    """Wait for the buffer's fences of usage ``cls`` or stronger: importer jobs, then the exporter's context.

    dma_resv_wait_timeout waits the fences one after the other, so the two
    waits are two blocking points; without the lock, new fences may appear
    in between (RESV-I3).
    """
    if cls is None or not p.fences:
        return
    if cx.has("job", b):
        prog.wait(fence.job_fences(cx, p, b, cls), ~fence.job_pending_upto(cx, p, b, cls),
                  f"{what}(resv, DMA_RESV_USAGE_{cls}) on importer jobs")
        if tag:
            prog.tag(tag + "_jobs")
    efs = fence.ef_fences(cx, b)
    if efs is not None:
        prog.wait(efs, ~fence.ef_pending_upto(cx, d, p, b, cls),
                  f"{what}(resv, DMA_RESV_USAGE_{cls}) on the exporter's fences")
        if tag:
            prog.tag(tag + "_ef")


def migrate(cx: BuildContext, d: Design, p: Profile, prog: Program, b: int, target: str) -> None:
    """Move buffer b to ``target`` inside a call (the caller holds the resv and checked the placement)."""
    mv = d.move
    assert mv is not None
    storage = cx.g("storage", b)
    pins = cx.g("pins", b) if cx.has("pins", b) else None
    if mv.respects_pins and pins is not None:
        prog.abort_if(pins > 0, text="-EBUSY: pinned")
    if mv.notify and p.dynamic:
        prog.do(*notify_effects(cx, b)).tag("notify")
    pipelined = mv.pipelined and p.fences
    if not pipelined:  # ttm_bo_wait_ctx() then a CPU copy (ttm_bo_move_memcpy)
        wait_fences(cx, d, p, prog, b, mv.waits)
    prog.alloc(mv.allocates, "allocate the new placement")
    if pipelined:
        # the copy job depends on the resv's fences (amdgpu_copy_buffer: amdgpu_sync_resv), the GPU waits for
        # them; ttm_bo_move_accel_cleanup() hands the old placement to a ghost object freed when the copy signals.
        # Building and arming the copy job sleeps (amdgpu_job_alloc_with_ib(GFP_KERNEL)): others run meanwhile;
        # nobody else adds to the exporter's context while this call holds the resv, so the room stays.
        prog.require(fence.ef_room(cx, b))
        prog.block_until(lift(True), "amdgpu_copy_buffer(): allocate and arm the copy job")
        prog.do(*fence.ef_add(cx, b, "COPY", p, mv.waits),
                *fence.drop_shared(cx, p, b, fence.ef_usage(d, "COPY"), exporter=True))
    prog.do(assign(storage, target)).tag("move")



def actions(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    if d.move is None or len(d.placements) < 2:
        return
    mv = d.move
    storage, released = cx.g("storage", b), cx.g("released", b)
    sfx = "" if cx.buffers == 1 else f"_b{b}"
    if p.migration == "stall":
        migrating = cx.g("migrating", b)
        mp = cx.a("map", b)
        prog = Program(cx, f"migrate{sfx}", "exporter", kernel="exporter migration",
                          call="stall new maps; wait until every mapping is gone; move", role="move", buffer=b,
                          meaning="move the backing storage once nothing is mapped (2011 contract)", rule="MIG-1")
        prog.pre = conj(released == 0, storage != "UNALLOC", migrating == 0)
        for name in mv.locks:
            prog.lock(lock_for(cx, name, b))
        prog.do(assign(migrating, 1))
        if mv.respects_pins:
            prog.block_until(forall(cx.I, lambda j: mp[j] == 0, "j"), "wait until every importer unmapped")
        prog.alloc(mv.allocates)
        prog.do(assign(storage, other(storage)), assign(migrating, 0)).tag("move")
        return
    for target in d.placements:
        prog = Program(cx, f"move_to_{target.lower()}{sfx}", "exporter", kernel="ttm_bo_validate",
                          call=f"move to {target}", role="move", buffer=b, rule="MIG-3",
                          meaning=f"the exporter moves the unpinned buffer to {target} under its resv")
        # DYN-10 is kept where access happens: a non-p2p map or pin brings the buffer back to SYS first
        prog.pre = conj(released == 0, storage != "UNALLOC", storage != target)
        for name in mv.locks:
            prog.lock(lock_for(cx, name, b))
        migrate(cx, d, p, prog, b, target)
