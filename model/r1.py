"""R1, the reference model: one dma-buf, one exporter, N importers.

Written from spec/R1-reference-model.md; read it side by side with that file.
Every action is atomic. KIND selects static importers (mapping pins, the
reservation lock is taken inside each call) or dynamic importers (they hold
the lock themselves and receive move_notify). The seeded-bug variants B1-B6
each change one action.
"""

from __future__ import annotations

from dmabuf_check.model.expr import Expr, Param, conj, forall, ite, sum_of
from dmabuf_check.model.lang import Model, Waits, assign, for_each, when
from dmabuf_check.model.types import BOOL, Enum, ModelError, Range, Ref

KINDS = ("static", "dynamic")

VARIANTS: dict[str, dict[str, str]] = {
    "B1": {"name": "ignore-pins", "kind": "static", "change": "migrate_begin drops pins=0",
           "property": "no-migration-while-mapped"},
    "B2": {"name": "no-move-notify", "kind": "dynamic", "change": "migrate_end does not set stale",
           "property": "no-migration-while-mapped"},
    "B3": {"name": "no-fence-wait", "kind": "dynamic", "change": "migrate_end drops forall j fence[j]=0",
           "property": "dma-targets-current-storage"},
    "B4": {"name": "signal-takes-lock", "kind": "dynamic", "change": "signal(i) also needs owner=FREE",
           "property": "no-fence-wait-deadlock"},
    "B5": {"name": "detach-while-mapped", "kind": "either", "change": "detach drops map[i]=0",
           "property": "map-after-attach"},
    "B6": {"name": "put-while-attached", "kind": "either", "change": "put drops att[i]=0",
           "property": "attach-holds-ref"},
}


def variant_key(name: str) -> str:
    """Accept B4, b4 or signal-takes-lock; return the canonical key."""
    for key, v in VARIANTS.items():
        if name.upper() == key or name == v["name"]:
            return key
    raise ModelError(f"unknown variant {name!r}; R1 has " + ", ".join(f"{k} ({v['name']})" for k, v in VARIANTS.items()))


def build(importers: int = 2, kind: str = "dynamic", variant: str | None = None) -> Model:
    """Instantiate R1 with N importers of one KIND, optionally a seeded-bug variant."""
    if kind not in KINDS:
        raise ModelError(f"--kind must be static or dynamic, not {kind!r}")
    if not isinstance(importers, int) or isinstance(importers, bool) or importers < 1:
        raise ModelError(f"R1 needs at least one importer, got {importers!r}")
    if variant is not None and not isinstance(variant, str):
        raise ModelError(f"variant must be a name like B4 or signal-takes-lock, got {variant!r}")
    key = variant_key(variant) if variant else None
    if key and VARIANTS[key]["kind"] not in ("either", kind):
        raise ModelError(f"variant {key} ({VARIANTS[key]['name']}) is defined for {VARIANTS[key]['kind']} importers only")
    dynamic = kind == "dynamic"

    m = Model("r1", "R1 reference model: one dma-buf, one exporter, N importers",
              params={"importers": importers, "kind": kind, "variant": key}, source=__file__)
    I = m.index_set("importers", importers, "importer")  # noqa: E741 - the spec's index set

    # ---- Variables: global ----------------------------------------------
    storage = m.var("storage", Enum("storage", "UNALLOC", "SYS", "VRAM"), "UNALLOC",
                    kernel="backing storage placement", meaning="where the backing storage is; allocated lazily at first map",
                    rule="ATT-9")
    pins = m.var("pins", Range(0, importers), 0,
                 kernel="dma_buf_pin count", meaning="pin count (static mappings)", rule="MAP-8")
    owner = m.var("owner", Ref(I, "FREE", "EXP"), "FREE",
                  kernel="dmabuf->resv (dma_resv_lock holder)", meaning="holder of the buffer's reservation lock",
                  rule="LOCK-1")
    exp = m.var("exp", Enum("exp", "IDLE", "WAIT"), "IDLE",
                kernel="exporter move", meaning="WAIT: exporter holds the lock and waits for fences before moving",
                rule="MIG-6")
    exp_ref = m.var("exp_ref", BOOL, 1,
                    kernel="dma_buf_export reference", meaning="the exporter's own reference to the dma-buf file",
                    rule="REF-1")
    released = m.var("released", BOOL, 0,
                     kernel="dma_buf_release", meaning="the file's last reference is gone; release ran", rule="REF-8")

    # ---- Variables: per importer i --------------------------------------
    ref = m.array("ref", I, BOOL, 0, kernel="dma_buf_get", meaning="holds a reference", rule="REF-10")
    att = m.array("att", I, BOOL, 0, kernel="dma_buf_attach", meaning="attached", rule="ATT-1")
    map_ = m.array("map", I, BOOL, 0, kernel="dma_buf_map_attachment", meaning="mapped", rule="MAP-1")
    loc = m.array("loc", I, Enum("loc", "NONE", "SYS", "VRAM"), "NONE",
                  kernel="sg_table placement", meaning="where its mapping points; NONE when unmapped", rule="MIG-6")
    stale = m.array("stale", I, BOOL, 0, kernel="move_notify", meaning="mapping invalidated by move_notify",
                    rule="MIG-5")
    fence = m.array("fence", I, BOOL, 0, kernel="dma_fence", meaning="its DMA job on the buffer is in flight",
                    rule="DYN-9")

    refs: Expr = exp_ref + sum_of(I, lambda j: ref[j])

    def other(x: Expr) -> Expr:
        return ite(x == "SYS", "VRAM", "SYS")

    def L(i: Param) -> Expr:  # noqa: N802 - the spec's name for the locking condition
        return owner == i if dynamic else owner == "FREE"

    resv = m.lock("resv", owner, "FREE", {"EXP": "exporter"},
                  kernel="dma_resv_lock(dmabuf->resv)", lock_class="reservation_ww_class_mutex")
    fences = m.fence_set("fence", I, lambda j: fence[j] == 1, signal="signal")
    del resv  # declared for the wait-for graph and lock analyses; guards read owner directly

    def under_resv(allocates: bool = False) -> dict[str, tuple[str, ...]]:
        """Lock metadata of an importer call: dynamic importers hold the lock, static calls take it inside."""
        alloc = ("fs_reclaim",) if allocates else ()  # map_dma_buf may allocate backing storage (MAP-3)
        return {"holds": ("resv",), "acquires": alloc} if dynamic else {"acquires": ("resv",) + alloc}

    # ---- Actions (guard -> effect), in the spec's order ------------------
    def imp(name: str, guard, effects, **meta):
        i = Param("i", I)
        return m.action(name, guard(i), effects(i), params=(i,), actor="importers", **meta)

    imp("get", lambda i: (released == 0) & (refs > 0) & (ref[i] == 0),
        lambda i: [assign(ref[i], 1)],
        kernel="dma_buf_get", call="dma_buf_get(fd) -> dmabuf", meaning="take a file reference", rule="REF-6")
    imp("put", lambda i: (ref[i] == 1) & (att[i] == 0) if key != "B6" else ref[i] == 1,
        lambda i: [assign(ref[i], 0), when(refs == 0, released, 1)],
        kernel="dma_buf_put", call="dma_buf_put(dmabuf)", meaning="drop the file reference; the last one releases",
        rule="REF-10")
    m.action("exp_put", (exp_ref == 1) & (exp == "IDLE") & (owner != "EXP"),
             [assign(exp_ref, 0), when(refs == 0, released, 1)],
             kernel="dma_buf_put", call="dma_buf_put(dmabuf) /* exporter's reference */",
             meaning="exporter drops its own reference", rule="REF-8")
    imp("attach", lambda i: (ref[i] == 1) & (att[i] == 0),
        lambda i: [assign(att[i], 1)],
        kernel="dma_buf_dynamic_attach" if dynamic else "dma_buf_attach",
        call=("dma_buf_dynamic_attach(dmabuf, dev{i}, &importer_ops, priv) -> att{i}" if dynamic
              else "dma_buf_attach(dmabuf, dev{i}) -> att{i}"),
        meaning="attach the importer's device", rule="ATT-1")
    imp("detach", lambda i: (att[i] == 1) & (map_[i] == 0) if key != "B5" else att[i] == 1,
        lambda i: [assign(att[i], 0)],
        kernel="dma_buf_detach", call="dma_buf_detach(dmabuf, att{i})", meaning="detach; only when unmapped",
        rule="ATT-7")
    if dynamic:
        imp("lock", lambda i: (owner == "FREE") & (att[i] == 1),
            lambda i: [assign(owner, i)],
            kernel="dma_resv_lock", call="dma_resv_lock(dmabuf->resv, NULL)", meaning="importer takes the reservation lock",
            rule="LOCK-1", acquires=("resv",))
    imp("unlock", lambda i: owner == i,
        lambda i: [assign(owner, "FREE")],
        kernel="dma_resv_unlock", call="dma_resv_unlock(dmabuf->resv)", meaning="importer drops the reservation lock",
        rule="LOCK-1", holds=("resv",))
    imp("map", lambda i: (att[i] == 1) & (map_[i] == 0) & L(i),
        lambda i: [when(storage == "UNALLOC", storage, "SYS"), assign(map_[i], 1), assign(loc[i], storage),
                   assign(stale[i], 0)] + ([] if dynamic else [assign(pins, pins + 1)]),
        kernel="dma_buf_map_attachment" if dynamic else "dma_buf_map_attachment_unlocked",
        call=("dma_buf_map_attachment(att{i}, DMA_BIDIRECTIONAL) -> sgt{i}" if dynamic
              else "dma_buf_map_attachment_unlocked(att{i}, DMA_BIDIRECTIONAL) -> sgt{i}"),
        meaning="map the attachment (allocates storage on first map; static mappings pin)", rule="MAP-2",
        **under_resv(allocates=True))
    imp("unmap", lambda i: (map_[i] == 1) & (fence[i] == 0) & L(i),
        lambda i: [assign(map_[i], 0), assign(loc[i], "NONE"), assign(stale[i], 0)]
        + ([] if dynamic else [assign(pins, pins - 1)]),
        kernel="dma_buf_unmap_attachment" if dynamic else "dma_buf_unmap_attachment_unlocked",
        call=("dma_buf_unmap_attachment(att{i}, sgt{i}, DMA_BIDIRECTIONAL)" if dynamic
              else "dma_buf_unmap_attachment_unlocked(att{i}, sgt{i}, DMA_BIDIRECTIONAL)"),
        meaning="unmap; only after its DMA job signalled", rule="MAP-1", **under_resv())
    imp("submit", lambda i: (map_[i] == 1) & (stale[i] == 0) & (fence[i] == 0) & L(i),
        lambda i: [assign(fence[i], 1)],
        kernel="dma_resv_add_fence",
        call="dma_resv_add_fence(dmabuf->resv, job{i}_fence, DMA_RESV_USAGE_WRITE)",
        meaning="start a DMA job on the mapping and publish its fence", rule="DYN-9", **under_resv())
    sig_guard = (lambda i: (fence[i] == 1) & (owner == "FREE")) if key == "B4" else (lambda i: fence[i] == 1)
    i_sig = Param("i", I)
    m.action("signal", sig_guard(i_sig), [assign(fence[i_sig], 0)], params=(i_sig,), actor="hardware",
             signals=fences, kernel="dma_fence_signal", call="dma_fence_signal(job{i}_fence)",
             meaning="the DMA job completes and its fence signals", rule="FENCE-1",
             # the completion path is a fence signalling critical section (dma_fence_begin_signalling)
             holds=("dma_fence_map",), acquires=("resv",) if key == "B4" else ())
    m.action("exp_lock", (released == 0) & (owner == "FREE") & (storage != "UNALLOC"),
             [assign(owner, "EXP")],
             kernel="dma_resv_lock", call="dma_resv_lock(dmabuf->resv, NULL)",
             meaning="exporter takes the reservation lock to decide a move", rule="MIG-3", acquires=("resv",))
    m.action("exp_unlock", (owner == "EXP") & (exp == "IDLE"),
             [assign(owner, "FREE")],
             kernel="dma_resv_unlock", call="dma_resv_unlock(dmabuf->resv)",
             meaning="exporter drops the reservation lock", rule="MIG-3", holds=("resv",))
    m.action("migrate_begin",
             conj(owner == "EXP", exp == "IDLE", *([] if key == "B1" else [pins == 0])),
             [assign(exp, "WAIT")],
             kernel="ttm_bo_validate", call="begin move: wait for fences in dmabuf->resv",
             meaning="exporter decides to move the unpinned buffer and starts waiting for fences", rule="MIG-4",
             holds=("resv",))
    all_idle = forall(I, lambda j: fence[j] == 0)
    notify = [] if (not dynamic or key == "B2") else [
        for_each(I, lambda j: [when(map_[j] == 1, stale[j], 1)])
    ]
    m.action("migrate_end", conj(exp == "WAIT", *([] if key == "B3" else [all_idle])),
             [assign(storage, other(storage)), assign(exp, "IDLE")] + notify,
             kernel="dma_buf_move_notify" if dynamic else "move",
             call=("dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP); move storage; "
                   + ("move_notify not sent" if key == "B2" else "dma_buf_move_notify(dmabuf)") if dynamic
                   else "dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP); move storage"),
             meaning="fences idle: move the storage and notify dynamic importers", rule="MIG-5",
             waits=Waits(fences, exp == "WAIT"),
             holds=("resv",), acquires=("dma_fence_map",))  # a fence wait is lockdep's might_wait

    m.valid_end = released == 1
    return m

