"""Attachments and device mappings: attach/detach, map/unmap, device jobs, pin/unpin (ATT, MAP, DYN rules).

Device importers (static, dynamic, p2p), per buffer b: ``att[i]``,
``map[i]``, ``loc[i]`` (where the mapping points), ``stale[i]`` (move_notify
invalidated it, dynamic kinds only) and ``ipin[i]`` (an explicit
dma_buf_pin, for scanout). Who holds the reservation lock around each call
comes from the profile (LOCK-1/2, MAP-2, LOCK-7): nobody before fences
existed, the dynamic importer itself from v5.7, every importer from v6.2
(static ones through the ``_unlocked`` wrappers). Before v6.16 a mismatched
pair (static importer of a dynamic exporter, or the reverse) was mapped at
attach time and the mapping cached (ATT-6); from v6.16 the core pins a
dynamic exporter's buffer on each static map instead (MAP-9).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dmabuf_check.model.components import fence, placement, resv
from dmabuf_check.model.components.buffer import DEVICE, DYNAMIC_LIKE, lock_for
from dmabuf_check.model.components.context import BuildContext
from dmabuf_check.model.components.program import Program
from dmabuf_check.model.design import Design, Op
from dmabuf_check.model.expr import conj, exists
from dmabuf_check.model.lang import assign
from dmabuf_check.model.profiles import Profile
from dmabuf_check.model.types import BOOL, Enum, ModelError

KIND_NAMES = {"STATIC": "static", "DYNAMIC": "dynamic", "P2P": "p2p"}


def device_kinds(cx: BuildContext) -> list[str]:
    return [k for k in DEVICE if KIND_NAMES[k] in cx.info.kinds]


def declare(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    kinds = device_kinds(cx)
    if not kinds:
        return
    cx.arr("att", b, BOOL, 0, kernel="dma_buf_attach", meaning="importer i's device is attached", rule="ATT-1")
    cx.arr("map", b, BOOL, 0, kernel=p.map_call, meaning="importer i holds a mapping (sg_table)", rule="MAP-1")
    cx.arr("loc", b, Enum("loc", "NONE", *d.placements), "NONE", kernel="sg_table placement",
           meaning="where importer i's mapping points; NONE when it has none", rule="MIG-6")
    if p.dynamic and any(k in DYNAMIC_LIKE for k in kinds):
        cx.arr("stale", b, BOOL, 0, kernel="move_notify", meaning="the mapping was invalidated by move_notify",
               rule="MIG-5")
    if any(caches_sgt(d, p, k) for k in kinds):
        cx.arr("sgt", b, BOOL, 0, kernel="attach->sgt (dma_buf_ops.cache_sgt_mapping)",
               meaning="the core keeps importer i's first sg_table and hands it out again; the exporter's "
                       "unmap runs at detach", rule="MAP-11")
    if placement.pin_sources(cx, d, p)["importer"]:
        cx.arr("ipin", b, BOOL, 0, kernel="dma_buf_pin", meaning="importer i pinned the buffer (scanout)",
               rule="DYN-2")


def core_holds_resv(p: Profile, kind: str) -> bool:
    """Who holds resv around map/unmap (MAP-2, LOCK-7): every importer from v6.2, dynamic ones from v5.7."""
    if not p.fences:
        return False
    return p.locking == "all" or (p.locking == "dynamic" and kind in DYNAMIC_LIKE)


def cached_at_attach(d: Design, p: Profile, kind: str) -> bool:
    """ATT-6 (< 6.16): one side static, the other dynamic: the core maps at attach and caches the sg_table."""
    if not p.attach_maps_mismatched:
        return False
    importer_dynamic = kind in DYNAMIC_LIKE
    return importer_dynamic != (d.dynamic and p.dynamic)


def caches_sgt(d: Design, p: Profile, kind: str) -> bool:
    """MAP-11 (v5.3-v6.15): a cache_sgt_mapping exporter's first map of an attachment is kept and handed out
    again (a mismatched pair is cached at attach already, ATT-6)."""
    return d.cache_sgt_mapping and p.sgt_cache == "cached" and not cached_at_attach(d, p, kind)


def exporter_op(cx: BuildContext, d: Design, p: Profile, prog: Program, b: int, name: str) -> Op | None:
    """Run the exporter's callback ``name`` with no core work inside: its locks, a fault, its waits, its
    allocation, unlock."""
    with exporter_call(cx, d, p, prog, b, name) as op:
        if op is not None and op.allocates:
            prog.alloc(op.allocates, f"{name}: kmalloc({op.allocates})")
        return op


@contextmanager
def exporter_call(cx: BuildContext, d: Design, p: Profile, prog: Program, b: int, name: str) -> Iterator[Op | None]:
    """The exporter's callback ``name``: its steps in order (``Op.steps``: the flags' locks, fault and wait, or
    the callback's own code), the core's part at its ``core`` step (the ``with`` block), then the locks it
    still holds released in reverse; the callback returns before the core goes on.

    Allocation is left to the body for flag ops: where lazy allocation happens depends on the call
    (MAP-13), an allocation elsewhere is the op's ``allocates``; an op written as code allocates where it
    calls kmalloc.
    """
    op = d.ops.get(name)
    if op is None:
        yield None
        return
    steps = op.steps()
    if not any(kind == "core" for kind, _ in steps):
        steps = steps + [("core", None)]
    held: list = []

    def emit(kind: str, arg: str | None) -> None:
        if kind == "lock":
            lk = lock_for(cx, arg, b)  # type: ignore[arg-type]
            prog.lock(lk, f"{name}: lock {lk.name}")
            held.append(lk)
        elif kind == "unlock":
            lk = lock_for(cx, arg, b)  # type: ignore[arg-type]
            if lk not in held:
                raise ModelError(f"ops[{name!r}].code unlocks {arg}, which it does not hold")
            held.remove(lk)
            prog.unlock(lk, f"{name}: unlock {lk.name}")
        elif kind == "fault":
            prog.fault(f"{name}: copy_from_user()")
        elif kind == "wait":
            placement.wait_fences(cx, d, p, prog, b, arg, what=f"{name}: dma_resv_wait_timeout")
        elif kind == "alloc":
            prog.alloc(arg, f"{name}: kmalloc({arg})")

    at = next(k for k, (kind, _) in enumerate(steps) if kind == "core")
    for kind, arg in steps[:at]:
        emit(kind, arg)
    yield op
    for kind, arg in steps[at + 1:]:
        emit(kind, arg)
    for lk in reversed(held):
        prog.unlock(lk, f"{name}: unlock {lk.name}")


def _pins(cx: BuildContext, b: int, delta: int) -> list:
    pins = cx.g("pins", b)
    return [assign(pins, pins + delta)]



def actions(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    for kind in device_kinds(cx):
        _attach(cx, d, p, b, kind)
        _detach(cx, d, p, b, kind)
        _map(cx, d, p, b, kind)
        _unmap(cx, d, p, b, kind)
        if cx.buffers == 1:
            for usage in fence.job_usages(cx, d, p):
                if usage == "BOOKKEEP" and kind == "STATIC":
                    continue
                _submit(cx, d, p, b, kind, usage)
        if cx.has("ipin", b) and kind in DYNAMIC_LIKE:
            _pin(cx, d, p, b, kind)
            _unpin(cx, d, p, b, kind)


def _names(cx: BuildContext, base: str, kind: str, b: int) -> str:
    sfx = "" if cx.buffers == 1 else f"_b{b}"
    return f"{base}_{KIND_NAMES[kind]}{sfx}"


def _attach(cx: BuildContext, d: Design, p: Profile, b: int, kind: str) -> None:
    ref, att, mp = cx.a("ref", b), cx.a("att", b), cx.a("map", b)
    kvar, released, storage = cx.a("kind"), cx.g("released", b), cx.g("storage", b)
    dyn = kind in DYNAMIC_LIKE
    cached = cached_at_attach(d, p, kind)
    for migrating in (False, True) if cached and not dyn and _can_migrate(d, p) else (False,):
        prog = Program(cx, _names(cx, "attach", kind, b) + ("_migrate" if migrating else ""), "importers",
                          kernel="dma_buf_dynamic_attach" if dyn else "dma_buf_attach",
                          call=("dma_buf_dynamic_attach(dmabuf, dev{i}, &importer_ops, priv) -> att{i}" if dyn
                                else "dma_buf_attach(dmabuf, dev{i}) -> att{i}"),
                          meaning="attach the importer's device", rule="ATT-1", role="attach", buffer=b)
        i = prog.i
        refuse = [~exists(cx.I, lambda j: mp[j] == 1, "j")] if d.refuse_attach_after_map else []
        where = [storage == "VRAM"] if migrating else ([storage != "VRAM"] if cached and not dyn
                                                        and _can_migrate(d, p) else [])
        prog.pre = conj(kvar[i] == kind, released == 0, ref[i] == 1, att[i] == 0, *refuse)
        with exporter_call(cx, d, p, prog, b, "attach") as op:  # ATT-2: called first, without resv
            if d.allocate == "attach":
                placement.allocate(cx, d, prog, b, op.allocates if op else None)
            elif op is not None and op.allocates:
                prog.alloc(op.allocates)
            if op is not None and op.pins:
                prog.final(*_pins(cx, b, +1))
        if p.fences:  # ATT-3: the attachment list is protected by resv, taken inside the call
            prog.lock(resv.resv_of(cx, b), "dma_resv_lock(dmabuf->resv) /* list add */")
        if cached and p.fences:
            # the cached map is a lock hold of its own (dma_buf_dynamic_attach unlocks after list_add); before
            # the v6.2 locking convention it takes resv only for a dynamic exporter ("if
            # (dma_buf_is_dynamic(attach->dmabuf)) dma_resv_lock(...)"), from v6.2 always
            prog.unlock(resv.resv_of(cx, b), "dma_resv_unlock(dmabuf->resv) /* list add done */")
            if p.locking == "all" or (d.dynamic and p.dynamic):
                prog.lock(resv.resv_of(cx, b), "dma_resv_lock(dmabuf->resv) /* the cached map */")
        if where:  # where the buffer lives decides the path, read when the cached map starts (under its lock)
            prog.require(conj(*where))
        if cached:
            if migrating:  # a static importer cannot follow a move: bring the buffer to system memory first
                placement.migrate(cx, d, p, prog, b, "SYS")
            if not dyn:  # ...and pin it for the attachment's lifetime (the exporter's pin op)
                exporter_op(cx, d, p, prog, b, "pin")
                prog.final(*_pins(cx, b, +1))
            _exporter_map_body(cx, d, p, prog, b, cached=True)
            if not dyn and p.map_waits_kernel and fence.ef_fences(cx, b) is not None:  # MAP-7 on the cached map
                prog.wait(fence.ef_fences(cx, b), ~fence.ef_pending_upto(cx, d, p, b, "KERNEL"),  # type: ignore
                          "dma_resv_wait_timeout(resv, DMA_RESV_USAGE_KERNEL)")
            prog.tag("mapped")
        prog.final(assign(att[i], 1))


def _can_migrate(d: Design, p: Profile) -> bool:
    return "VRAM" in d.placements and d.move is not None and p.migration == "notify"


def _detach(cx: BuildContext, d: Design, p: Profile, b: int, kind: str) -> None:
    """dma_buf_detach: a cached sg_table is unmapped first (ATT-6, MAP-11), then the attachment leaves the list
    under resv (ATT-3), then the exporter's detach op runs without it (ATT-8)."""
    cached = cached_at_attach(d, p, kind)
    for table in (False, True) if caches_sgt(d, p, kind) else (cached,):
        _detach_one(cx, d, p, b, kind, table, "_sgt" if table and not cached else "")


def _detach_one(cx: BuildContext, d: Design, p: Profile, b: int, kind: str, table: bool, sfx: str) -> None:
    att, mp, loc, kvar = cx.a("att", b), cx.a("map", b), cx.a("loc", b), cx.a("kind")
    prog = Program(cx, _names(cx, "detach", kind, b) + sfx, "importers", kernel="dma_buf_detach",
                      call="dma_buf_detach(dmabuf, att{i})", meaning="detach; after unmapping (ATT-7)",
                      rule="ATT-7", role="detach", buffer=b)
    i = prog.i
    keep = [mp[i] == 0] if d.importer.unmaps_before_detach else []
    if cx.has("ipin", b):
        keep.append(cx.a("ipin", b)[i] == 0)
    sgt = [cx.a("sgt", b)[i] == int(table)] if cx.has("sgt", b) and caches_sgt(d, p, kind) else []
    prog.pre = conj(kvar[i] == kind, att[i] == 1, *keep, *sgt)
    # ATT-6: a static importer of a dynamic exporter was pinned at attach; the exporter unpins it here
    unpin = table and kind not in DYNAMIC_LIKE and d.dynamic and p.dynamic
    # v6.2 on the cached table is unmapped inside the list-del hold; before, in a hold of its own, and only for
    # a dynamic exporter ("if (dma_buf_is_dynamic(attach->dmabuf)) dma_resv_lock(...)")
    inside = p.locking == "all"
    own_hold = table and not inside and p.fences and d.dynamic and p.dynamic

    def unmap_table() -> None:
        exporter_op(cx, d, p, prog, b, "unmap")
        if unpin:
            exporter_op(cx, d, p, prog, b, "unpin")
        if unpin or (d.map_pins and bool(sgt)):  # the kept table's map pin (MAP-11) goes with it
            prog.final(*_pins(cx, b, -1))
        prog.final(assign(loc[i], "NONE"), *([assign(cx.a("sgt", b)[i], 0)] if sgt else []))
    if table and not inside:
        if own_hold:
            prog.lock(resv.resv_of(cx, b), "dma_resv_lock(dmabuf->resv) /* the cached sg_table */")
        unmap_table()
        if own_hold:
            prog.unlock(resv.resv_of(cx, b), "dma_resv_unlock(dmabuf->resv)")
    if p.fences:
        prog.lock(resv.resv_of(cx, b), "dma_resv_lock(dmabuf->resv) /* list del */")
    if table and inside:
        unmap_table()
    if p.fences:
        prog.unlock(resv.resv_of(cx, b), "dma_resv_unlock(dmabuf->resv)")
    exporter_op(cx, d, p, prog, b, "detach")  # ATT-8: without resv
    if "attach" in d.ops and d.ops["attach"].pins:
        prog.final(*_pins(cx, b, -1))
    prog.final(assign(att[i], 0))


def _exporter_map_body(cx: BuildContext, d: Design, p: Profile, prog: Program, b: int, cached: bool) -> None:
    """The exporter's map_dma_buf: its locks, lazy allocation, a wait it makes; the mapping points at storage."""
    storage, loc = cx.g("storage", b), cx.a("loc", b)
    with exporter_call(cx, d, p, prog, b, "map") as op:
        if d.allocate == "first-map" or (cached and d.allocate != "export"):
            placement.allocate(cx, d, prog, b, op.allocates if op else None)
        elif op is not None and op.allocates:
            prog.alloc(op.allocates)
    prog.final(assign(loc[prog.i], storage))


def _map(cx: BuildContext, d: Design, p: Profile, b: int, kind: str) -> None:
    att, mp, kvar, storage = cx.a("att", b), cx.a("map", b), cx.a("kind"), cx.g("storage", b)
    dyn = kind in DYNAMIC_LIKE
    locked = core_holds_resv(p, kind) and (d.importer.locks_for_map or not dyn)
    unlocked_wrapper = p.locking == "all" and not dyn
    kernel = p.map_call + ("_unlocked" if unlocked_wrapper else "")
    cached = cached_at_attach(d, p, kind)
    src = placement.pin_sources(cx, d, p)
    pin_on_map = not cached and ((src["map_core"] and kind == "STATIC") or (src["map_dyn_core"] and dyn))
    # a non-p2p device cannot reach VRAM: the exporter moves the buffer to system memory first (under resv)
    may_migrate = _can_migrate(d, p) and kind != "P2P" and not cached and locked
    keeps = caches_sgt(d, p, kind)
    if keeps:
        _map_cached_sgt(cx, d, p, b, kind, kernel, locked)
    for migrating in (False, True) if may_migrate else (False,):
        name = _names(cx, "map", kind, b) + ("_migrate" if migrating else "")
        prog = Program(cx, name, "importers", kernel=kernel, call=f"{kernel}(att{{i}}, DMA_BIDIRECTIONAL) -> sgt{{i}}",
                          meaning="map the attachment for device access", rule="MAP-2", role="map", buffer=b)
        i = prog.i
        stall = [cx.g("migrating", b) == 0] if cx.has("migrating", b) else []  # MIG-1: maps stall during migration
        where = [storage == "VRAM"] if migrating else ([storage != "VRAM"] if may_migrate else [])
        first = [cx.a("sgt", b)[i] == 0] if keeps else []
        prog.pre = conj(kvar[i] == kind, att[i] == 1, mp[i] == 0, *stall, *where, *first)
        if locked:
            prog.lock(resv.resv_of(cx, b), "dma_resv_lock(dmabuf->resv, NULL)")
        elif core_holds_resv(p, kind):
            prog.tag("unlocked_required")  # LOCK-1: the importer maps without the lock the contract requires
        if locked and dyn and d.importer.nested_map_lock:  # the _unlocked variant under the caller's lock
            prog.lock(resv.resv_of(cx, b), f"{kernel}_unlocked: dma_resv_lock(dmabuf->resv) again")
        if cached:
            prog.do(assign(mp[i], 1)).tag("mapped")  # the sg_table cached at attach is handed out
            continue
        if migrating:
            placement.migrate(cx, d, p, prog, b, "SYS")
        if pin_on_map:  # MAP-9: dma_buf_pin_on_map (>= 6.16), or CONFIG_DMABUF_MOVE_NOTIFY=n (v5.7 on)
            exporter_op(cx, d, p, prog, b, "pin")
            prog.final(*_pins(cx, b, +1))
        if d.map_pins:
            prog.final(*_pins(cx, b, +1))
        _exporter_map_body(cx, d, p, prog, b, cached=False)
        if kind == "STATIC" and p.fences and p.map_waits_kernel:  # MAP-7: the core waits for KERNEL fences
            efs = fence.ef_fences(cx, b)
            if efs is not None:
                prog.wait(efs, ~fence.ef_pending_upto(cx, d, p, b, "KERNEL"),
                          "dma_resv_wait_timeout(resv, DMA_RESV_USAGE_KERNEL)")
        prog.tag("mapped")
        prog.final(assign(mp[i], 1), *([assign(cx.a("stale", b)[i], 0)] if cx.has("stale", b) else []),
                   *([assign(cx.a("sgt", b)[i], 1)] if keeps else []))


def _map_cached_sgt(cx: BuildContext, d: Design, p: Profile, b: int, kind: str, kernel: str, locked: bool) -> None:
    """MAP-11: a later map of a cache_sgt_mapping attachment returns the kept sg_table at once (no exporter
    call, no KERNEL-fence wait: dma_buf_map_attachment() returns before both)."""
    att, mp, kvar, loc = cx.a("att", b), cx.a("map", b), cx.a("kind"), cx.a("loc", b)
    prog = Program(cx, _names(cx, "map", kind, b) + "_sgt", "importers", kernel=kernel,
                   call=f"{kernel}(att{{i}}, DMA_BIDIRECTIONAL) -> sgt{{i}} /* attach->sgt */",
                   meaning="map again: the core hands out the sg_table it kept", rule="MAP-11", role="map", buffer=b)
    i = prog.i
    prog.pre = conj(kvar[i] == kind, att[i] == 1, mp[i] == 0, cx.a("sgt", b)[i] == 1)
    if locked:
        prog.lock(resv.resv_of(cx, b), "dma_resv_lock(dmabuf->resv, NULL)")
    elif core_holds_resv(p, kind):
        prog.tag("unlocked_required")
    prog.tag("mapped")
    prog.final(assign(mp[i], 1), assign(loc[i], cx.g("storage", b)))


def _unmap(cx: BuildContext, d: Design, p: Profile, b: int, kind: str) -> None:
    mp, loc, kvar = cx.a("map", b), cx.a("loc", b), cx.a("kind")
    dyn = kind in DYNAMIC_LIKE
    locked = core_holds_resv(p, kind) and (d.importer.locks_for_map or not dyn)
    unlocked_wrapper = p.locking == "all" and not dyn
    kernel = p.unmap_call + ("_unlocked" if unlocked_wrapper else "")
    prog = Program(cx, _names(cx, "unmap", kind, b), "importers", kernel=kernel,
                      call=f"{kernel}(att{{i}}, sgt{{i}}, DMA_BIDIRECTIONAL)",
                      meaning="unmap; after its DMA job signalled", rule="MAP-1", role="unmap", buffer=b)
    i = prog.i
    idle = [cx.a("job", b)[i] == "NONE"] if cx.has("job", b) else []
    prog.pre = conj(kvar[i] == kind, mp[i] == 1, *idle)
    if locked:
        prog.lock(resv.resv_of(cx, b), "dma_resv_lock(dmabuf->resv, NULL)")
        if dyn and d.importer.nested_map_lock:
            prog.lock(resv.resv_of(cx, b), f"{kernel}_unlocked: dma_resv_lock(dmabuf->resv) again")
    elif core_holds_resv(p, kind):
        prog.tag("unlocked_required")
    if cached_at_attach(d, p, kind) or caches_sgt(d, p, kind):  # the kept sg_table: unmap is a no-op (MAP-11)
        prog.do(assign(mp[i], 0))
        return
    exporter_op(cx, d, p, prog, b, "unmap")
    pins = placement.pin_sources(cx, d, p)
    if (pins["map_core"] and kind == "STATIC") or (pins["map_dyn_core"] and dyn):
        exporter_op(cx, d, p, prog, b, "unpin")
        prog.final(*_pins(cx, b, -1))
    if d.map_pins:
        prog.final(*_pins(cx, b, -1))
    prog.final(assign(mp[i], 0), assign(loc[i], "NONE"), *([assign(cx.a("stale", b)[i], 0)] if cx.has("stale", b)
                                                        else []))


def _submit(cx: BuildContext, d: Design, p: Profile, b: int, kind: str, usage: str) -> None:
    """A device job on the mapping: lock resv, (wait KERNEL fences), reserve a slot, add the job's fence."""
    mp, kvar, job = cx.a("map", b), cx.a("kind"), cx.a("job", b)
    imp = d.importer
    prog = Program(cx, _names(cx, f"submit_{usage.lower()}", kind, b), "importers", kernel="dma_resv_add_fence",
                      call=f"submit job{{i}}: dma_resv_add_fence(resv, job{{i}}_fence, DMA_RESV_USAGE_{usage})",
                      meaning="start a DMA job on the mapping and publish its fence", rule="DYN-9", role="submit",
                      buffer=b)
    i = prog.i
    fresh = [cx.a("stale", b)[i] == 0] if cx.has("stale", b) and imp.remaps_stale else []
    prog.pre = conj(kvar[i] == kind, mp[i] == 1, job[i] == "NONE", *fresh)
    lk = resv.resv_of(cx, b)
    prog.lock(lk, "dma_resv_lock(dmabuf->resv, NULL)")
    if kind in DYNAMIC_LIKE and imp.waits_kernel_fences:  # DYN-9: obey KERNEL fences (the move's copy)
        efs = fence.ef_fences(cx, b)
        if efs is not None:
            prog.wait(efs, ~fence.ef_pending_upto(cx, d, p, b, "KERNEL"),
                      "dma_resv_wait_timeout(resv, DMA_RESV_USAGE_KERNEL)")
    slot = resv.needs_slot(p, usage)
    if slot:
        resv.reserve(cx, prog, b)
    if not imp.reserve_before_add and slot:
        prog.unlock(lk, "dma_resv_unlock(dmabuf->resv) /* reservation dropped */")
        prog.lock(lk, "dma_resv_lock(dmabuf->resv, NULL)")
    resv.add_fence(cx, prog, b, *fence.job_submit_effects(cx, d, p, b, i, usage), p=p, usage=usage)
    prog.tag("access")


def _pin(cx: BuildContext, d: Design, p: Profile, b: int, kind: str) -> None:
    att, kvar, ipin, storage = cx.a("att", b), cx.a("kind"), cx.a("ipin", b), cx.g("storage", b)
    may_migrate = _can_migrate(d, p) and kind != "P2P"  # DYN-5: pin where every attached device reaches it
    for migrating in (False, True) if may_migrate else (False,):
        prog = Program(cx, _names(cx, "pin", kind, b) + ("_migrate" if migrating else ""), "importers",
                          kernel="dma_buf_pin", call="dma_buf_pin(att{i})",
                          meaning="pin the buffer for scanout (resv held)", rule="DYN-2", role="pin", buffer=b)
        i = prog.i
        where = [storage == "VRAM"] if migrating else ([storage != "VRAM"] if may_migrate else [])
        prog.pre = conj(kvar[i] == kind, att[i] == 1, ipin[i] == 0, storage != "UNALLOC", *where)
        prog.lock(resv.resv_of(cx, b), "dma_resv_lock(dmabuf->resv, NULL)")
        if migrating:
            placement.migrate(cx, d, p, prog, b, "SYS")
        exporter_op(cx, d, p, prog, b, "pin")
        prog.final(*_pins(cx, b, +1), assign(ipin[i], 1))


def _unpin(cx: BuildContext, d: Design, p: Profile, b: int, kind: str) -> None:
    kvar, ipin = cx.a("kind"), cx.a("ipin", b)
    prog = Program(cx, _names(cx, "unpin", kind, b), "importers", kernel="dma_buf_unpin", call="dma_buf_unpin(att{i})",
                      meaning="drop the scanout pin (resv held)", rule="DYN-6", role="unpin", buffer=b)
    i = prog.i
    prog.pre = conj(kvar[i] == kind, ipin[i] == 1)
    prog.lock(resv.resv_of(cx, b), "dma_resv_lock(dmabuf->resv, NULL)")
    exporter_op(cx, d, p, prog, b, "unpin")
    prog.final(*_pins(cx, b, -1), assign(ipin[i], 0))
