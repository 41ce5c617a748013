"""Mappings, placement and pinning: where device and CPU accesses point (MAP, MIG, DYN, CPU-7 rules)."""

from __future__ import annotations

from dmabuf_check.model.components.context import BuildInfo
from dmabuf_check.model.expr import Expr, conj, count, disj, forall
from dmabuf_check.model.lang import Model
from dmabuf_check.properties.catalog.base import Rule, any_step, has, var, vname

DYNAMIC_LIKE = ("DYNAMIC", "P2P")


def _imp(m: Model):
    return m.index_sets["importers"]


def _each(info: BuildInfo, fn) -> Expr:
    return conj(*(fn(b) for b in range(info.buffers)))


def no_migration_while_mapped(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        n = info.buffers
        mp, loc, storage = var(m, "map", b, n), var(m, "loc", b, n), var(m, "storage", b, n)
        stale = var(m, "stale", b, n) if has(m, vname("stale", b, n)) else None
        return forall(_imp(m), lambda i: conj(mp[i] == 1, *([stale[i] == 0] if stale else [])).implies(
            loc[i] == storage), "i")
    return _each(info, one)


def dma_targets_current_storage(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        n = info.buffers
        job, mp, loc, storage = var(m, "job", b, n), var(m, "map", b, n), var(m, "loc", b, n), var(m, "storage", b, n)
        return forall(_imp(m), lambda i: (job[i] != "NONE").implies((mp[i] == 1) & ((loc[i] == storage)
                                                                                    | _ghost_keeps(m, b, n, i))), "i")
    return _each(info, one)


def _ghost_keeps(m: Model, b: int, n: int, i) -> Expr:
    """A job that a pending pipelined copy depends on still reaches the old placement: TTM's ghost object
    holds it until the copy's fence signals (ttm_bo_move_accel_cleanup)."""
    if not has(m, vname("ef1dep", b, n)):
        return disj()
    return disj(*((m.variable(vname(f"{slot}dep", b, n))[i] == "DEP") & (var(m, slot, b, n) == "COPY")
                  for slot in ("ef1", "ef2")))


def p2p_placement(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        n = info.buffers
        mp, loc, kind = var(m, "map", b, n), var(m, "loc", b, n), m.variable("kind")
        stale = var(m, "stale", b, n) if has(m, vname("stale", b, n)) else None
        return forall(_imp(m), lambda i: conj(mp[i] == 1, kind[i] != "P2P", *([stale[i] == 0] if stale else []))
                      .implies(loc[i] != "VRAM"), "i")
    return _each(info, one)


def pin_count(m: Model, info: BuildInfo) -> Expr:
    src: dict[str, bool] = info.facts["pin_sources"]  # type: ignore[assignment]
    cached = info.facts.get("cached_kinds", ())
    kind = m.variable("kind")

    def one(b: int) -> Expr:
        n = info.buffers
        terms: list[Expr] = []
        if src["attach_op"]:
            att = var(m, "att", b, n)
            terms.append(count(_imp(m), lambda i: att[i] == 1, "i"))
        if src["attach_core"]:
            att = var(m, "att", b, n)
            terms.append(count(_imp(m), lambda i: (att[i] == 1) & (kind[i] == "STATIC"), "i"))
        if src["map_core"]:
            mp = var(m, "map", b, n)
            terms.append(count(_imp(m), lambda i: (mp[i] == 1) & (kind[i] == "STATIC"), "i"))
        if src.get("map_dyn_core"):
            mp = var(m, "map", b, n)
            terms.append(count(_imp(m), lambda i: (mp[i] == 1) & (kind[i] != "STATIC") & (kind[i] != "CPU"), "i"))
        if src["map_op"]:
            mp = var(m, "map", b, n)
            terms.append(count(_imp(m), lambda i: conj(mp[i] == 1, *(kind[i] != k for k in cached)), "i"))
        if src["importer"]:
            ipin = var(m, "ipin", b, n)
            terms.append(count(_imp(m), lambda i: ipin[i] == 1, "i"))
        if src["vmap"]:
            terms.append(var(m, "vmap_cnt", b, n) > 0)
        total: Expr = terms[0]
        for t in terms[1:]:
            total = total + t
        return var(m, "pins", b, n) == total
    return _each(info, one)


def vmap_count(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        n = info.buffers
        cnt, vaddr, cmap = var(m, "vmap_cnt", b, n), var(m, "vaddr", b, n), var(m, "cmap", b, n)
        users = count(_imp(m), lambda i: cmap[i] == "VMAP", "i")
        return conj(cnt == users, (vaddr != "NONE") == (cnt > 0))
    return _each(info, one)


def vunmap_balanced(m: Model, info: BuildInfo) -> Expr:
    def bad(step):
        cmap = var(m, "cmap", step.buffer, info.buffers)
        return lambda i: step.at & (cmap[i] != "VMAP")
    return ~any_step(m, info.with_role("vunmap"), bad)


def vmap_stays_put(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        n = info.buffers
        vaddr, storage = var(m, "vaddr", b, n), var(m, "storage", b, n)
        return (vaddr != "NONE").implies(vaddr == storage)
    return _each(info, one)


def map_holds_resv(m: Model, info: BuildInfo) -> Expr:
    return ~disj(*(s.at if s.param is None else any_step(m, [s], lambda st: st.at)
                   for s in info.steps if "unlocked_required" in s.tags))


def _has(name: str):
    return lambda m, info: has(m, vname(name, 0, info.buffers))


RULES = (
    Rule("no-migration-while-mapped",
         "a mapping that was not invalidated points at the current storage (map & !stale => loc = storage)",
         ("MIG-4", "MIG-5", "MAP-8", "MIG-1"), "dma_buf_ops.pin/unpin doc; dma_buf_move_notify() kernel-doc; "
         "dma-buf-sharing.txt 'Migration of backing storage'", no_migration_while_mapped, present=_has("map")),
    Rule("dma-targets-current-storage", "in-flight DMA targets the current storage (job => map & loc = storage)",
         ("MIG-6", "DYN-7", "DYN-9"), "enum dma_resv_usage KERNEL doc; struct dma_buf resv 'DYNAMIC IMPORTER RULES'",
         dma_targets_current_storage, applies=lambda p: p.fences, present=_has("job")),
    Rule("p2p-placement", "only a p2p importer's live mapping may point at device memory (VRAM)",
         ("DYN-10", "ATT-5"), "dma_buf_attach_ops.allow_peer2peer doc; amdgpu_dma_buf_map()",
         p2p_placement, applies=lambda p: p.dynamic,
         present=lambda m, info: has(m, vname("map", 0, info.buffers))
         and "VRAM" in m.variable(vname("storage", 0, info.buffers)).type.labels),  # type: ignore[attr-defined]
    Rule("pin-count", "the pin count equals the live reasons to pin (static maps, attach pins, importer pins, vmap)",
         ("MAP-8", "MAP-9", "DYN-4"), "dma_buf_pin_on_map(), dma_buf_map_attachment(); dma_buf_pin()/unpin()",
         pin_count, present=_has("pins")),
    Rule("vmap-count", "the core's vmap count equals the vmap users, and the exporter's mapping exists iff it is > 0",
         ("CPU-7",), "dma_buf_vmap(), dma_buf_vunmap(): vmapping_counter", vmap_count, applies=lambda p: p.cpu_access,
         present=_has("vmap_cnt")),
    Rule("vunmap-balanced", "dma_buf_vunmap is only called by a user that holds a vmap",
         ("CPU-7",), "dma_buf_vunmap(): BUG_ON(!dmabuf->vmapping_counter), BUG_ON(vmap_ptr mismatch)",
         vunmap_balanced, applies=lambda p: p.cpu_access, present=_has("vmap_cnt")),
    Rule("vmap-stays-put", "the exporter's kernel mapping points at the current storage while it exists",
         ("MIG-4", "CPU-7"), "dma_buf_ops.vmap doc; drm_gem_vmap() pins TTM/GEM objects for vmap",
         vmap_stays_put, applies=lambda p: p.cpu_access, present=_has("vaddr")),
    Rule("map-holds-resv", "map/unmap of a dynamic attachment run with the resv lock held by the caller",
         ("LOCK-1", "MAP-2", "DYN-8"), "dma_buf_map_attachment(): dma_resv_assert_held(); DOC 'locking convention'",
         map_holds_resv, applies=lambda p: p.locking != "none",
         present=lambda m, info: any("unlocked_required" in s.tags for s in info.steps)),
)
