"""R1's properties (spec/R1-reference-model.md, "Properties"), each tied to its kernel rule."""

from __future__ import annotations

from dmabuf_check.model.expr import Expr, count, forall
from dmabuf_check.model.lang import Model
from dmabuf_check.properties import waitfor
from dmabuf_check.properties.base import DEADLOCK, LIVENESS, Property


def _v(m: Model, name: str):
    v = m.variable(name)
    return v if v.index is not None else v.ref()


def _imp(m: Model):
    return m.index_sets["importers"]


def _map_after_attach(m: Model) -> Expr:
    mp, att = _v(m, "map"), _v(m, "att")
    return forall(_imp(m), lambda i: (mp[i] == 1).implies(att[i] == 1), "i")


def _attach_holds_ref(m: Model) -> Expr:
    att, ref = _v(m, "att"), _v(m, "ref")
    return forall(_imp(m), lambda i: (att[i] == 1).implies(ref[i] == 1), "i")


def _no_migration_while_mapped(m: Model) -> Expr:
    mp, stale, loc, storage = _v(m, "map"), _v(m, "stale"), _v(m, "loc"), _v(m, "storage")
    return forall(_imp(m), lambda i: ((mp[i] == 1) & (stale[i] == 0)).implies(loc[i] == storage), "i")


def _dma_targets_current_storage(m: Model) -> Expr:
    fence, mp, loc, storage = _v(m, "fence"), _v(m, "map"), _v(m, "loc"), _v(m, "storage")
    return forall(_imp(m), lambda i: (fence[i] == 1).implies((mp[i] == 1) & (loc[i] == storage)), "i")


def _pin_count(m: Model) -> Expr:
    pins, mp = _v(m, "pins"), _v(m, "map")
    if m.params["kind"] == "static":
        return pins == count(_imp(m), lambda i: mp[i] == 1, "i")
    return pins == 0


def _release_is_final(m: Model) -> Expr:
    released, exp_ref = _v(m, "released"), _v(m, "exp_ref")
    ref, att, mp, fence = _v(m, "ref"), _v(m, "att"), _v(m, "map"), _v(m, "fence")
    clean = forall(_imp(m), lambda i: (ref[i] == 0) & (att[i] == 0) & (mp[i] == 0) & (fence[i] == 0), "i")
    return (released == 1).implies((exp_ref == 0) & clean)


PROPERTIES: tuple[Property, ...] = (
    Property("map-after-attach", "a mapped attachment is still attached (map[i] => att[i])",
             ("ATT-7", "MAP-13"), "dma-buf.c DOC 'dma buf device access' steps 3-4; dma_buf_detach()",
             build=_map_after_attach),
    Property("attach-holds-ref", "an attached importer holds a reference to the dma-buf (att[i] => ref[i])",
             ("REF-10",), "dma-buf.c DOC 'dma buf device access' steps 2 and 4; drm_prime.c lifetime DOC",
             build=_attach_holds_ref),
    Property("no-migration-while-mapped",
             "a mapping that was not invalidated points at the current storage (map[i] & !stale[i] => loc[i]=storage)",
             ("MIG-4", "MIG-5", "MAP-8"), "dma_buf_ops.pin/unpin doc; dma_buf_move_notify() kernel-doc",
             build=_no_migration_while_mapped),
    Property("dma-targets-current-storage", "in-flight DMA targets the current storage (fence[i] => map[i] & loc[i]=storage)",
             ("MIG-6", "DYN-9"), "enum dma_resv_usage KERNEL doc; struct dma_buf resv 'DYNAMIC IMPORTER RULES'",
             build=_dma_targets_current_storage),
    Property("pin-count", "the pin count equals the number of static mappings (0 for dynamic importers)",
             ("MAP-8", "DYN-4"), "dma_buf_map_attachment() kernel-doc; dma_buf_pin()/dma_buf_unpin()",
             build=_pin_count),
    Property("release-is-final", "after release nobody holds, attaches, maps or fences the buffer",
             ("REF-8", "REF-9"), "dma_buf_release(), dma_buf_file_release() in drivers/dma-buf/dma-buf.c",
             build=_release_is_final),
    Property("no-stuck-state", "every state where no action is enabled is a valid end state (released)",
             ("DL-1", "REF-8"), "spec/rules.md section 17 (deadlock patterns); dma_buf_release()",
             kind=DEADLOCK),
    Property("no-fence-wait-deadlock", "no cycle in the wait-for graph (waiter -> fence -> lock -> holder)",
             ("DL-1", "DL-2", "SIG-3"), "dma-fence.c DOC 'fence cross-driver contract' and 'fence signalling annotation'",
             build=waitfor.no_cycle),
)


def _fence_signals(m: Model) -> list[tuple[Expr, Expr]]:
    fence = _v(m, "fence")
    return [(fence[i] == 1, fence[i] == 0) for i in _members(m)]


def _move_completes(m: Model) -> list[tuple[Expr, Expr]]:
    exp = _v(m, "exp")
    return [(exp == "WAIT", exp == "IDLE")]


def _members(m: Model):
    from dmabuf_check.model.expr import MemberConst

    idx = _imp(m)
    return [MemberConst(idx, j) for j in idx.members()]


LIVENESS_PROPERTIES: tuple[Property, ...] = (
    Property("fence-signals", "every pending fence is eventually signaled (weak fairness of dma_fence_signal)",
             ("FENCE-LIVE-1", "DL-1"), "dma-fence.c DOC 'fence cross-driver contract' (fences complete in reasonable time)",
             kind=LIVENESS, leads_to=_fence_signals, fairness=("signal",)),
    Property("move-completes",
             "every migrate_begin is eventually followed by migrate_end (weak fairness of dma_fence_signal and of "
             "the exporter's wait)",
             ("MIG-6", "FENCE-LIVE-1"), "dma_resv_wait_timeout() returns once the fences signal; MIG-6",
             kind=LIVENESS, leads_to=_move_completes, fairness=("signal", "migrate_end")),
)
