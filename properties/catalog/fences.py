"""Fences and implicit synchronisation: context order, slots, who waits for what (FENCE, RESV-U/A, CPU rules)."""

from __future__ import annotations

from dmabuf_check.model.components.context import BuildInfo
from dmabuf_check.model.expr import Expr, conj, count, disj, exists, forall
from dmabuf_check.model.lang import Model
from dmabuf_check.properties.catalog.base import Rule, any_step, has, var, vname


def _imp(m: Model):
    return m.index_sets["importers"]


def context_order(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        ef2 = var(m, "ef2", b, info.buffers)
        return (ef2 != "COPY_DONE") & (ef2 != "JOB_DONE")
    return conj(*(one(b) for b in range(info.buffers)))


def slot_reserved(m: Model, info: BuildInfo) -> Expr:
    steps = [s for s in info.with_tag("add_fence")
             if not {"add_fence_reserved", "add_excl"} & s.tags and s.buffer is not None]
    return ~any_step(m, steps, lambda s: s.at & (_slots(m, info, s.buffer) == 0))


def _slots(m: Model, info: BuildInfo, b: int):
    name = "slots" if info.facts.get("shared_resv") else vname("slots", b, info.buffers)
    return m.variable(name).ref()


def _copy_running(m: Model, info: BuildInfo, b: int) -> Expr:
    if not has(m, vname("ef1", b, info.buffers)):
        return disj()
    ef1, ef2 = var(m, "ef1", b, info.buffers), var(m, "ef2", b, info.buffers)
    return (ef1 == "COPY") | (ef2 == "COPY")


def kernel_fence_first(m: Model, info: BuildInfo) -> Expr:
    """No access can start while a move's copy runs: static map completion, device job start, CPU begin."""
    kind = m.variable("kind")
    starts = []
    for s in info.steps:
        if s.buffer is None or "done" not in s.tags:
            continue
        static_map = s.role == "map" and "mapped" in s.tags
        if static_map or s.role == "submit" or s.role.startswith("begin_cpu"):
            starts.append(s)

    def bad(s):
        cond = s.action.guard & _copy_running(m, info, s.buffer)
        if s.role == "map":
            return lambda i: cond & (kind[i] == "STATIC")
        return cond
    return ~any_step(m, starts, bad)


def cpu_begin_waits(m: Model, info: BuildInfo) -> Expr:
    """CPU-2: when begin_cpu_access's wait on the exporter's fences returns, its rendering is done (in truth).

    Waits on importer jobs read the jobs themselves; the exporter's context is
    seen through the resv (RESV-A2), so a fence added with the wrong usage,
    or replaced by a later one that signaled first, escapes the wait.
    """
    def bad(s):
        b = s.buffer
        ef1, ef2 = var(m, "ef1", b, info.buffers), var(m, "ef2", b, info.buffers)
        return s.action.guard & ((ef1 == "JOB") | (ef2 == "JOB"))  # the exporter's own rendering writes
    return ~any_step(m, info.with_tag("cpu_wait_ef"), bad)


def cpu_bracketed(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        acc, cpu = var(m, "acc", b, info.buffers), var(m, "cpu", b, info.buffers)
        return forall(_imp(m), lambda i: conj((acc[i] != "NONE").implies(cpu[i] != "NONE"),
                                              (acc[i] == "WRITE").implies(cpu[i] == "WRITE")), "i")
    return conj(*(one(b) for b in range(info.buffers)))


def implicit_sync(m: Model, info: BuildInfo) -> Expr:
    """SYNC-1/2: no write runs on a buffer together with another implicit-sync access (write or read).

    The exporter's own jobs count too: its copy engine's move (a write) and its rendering, each running once
    its scheduler dependencies signaled; one engine runs one fence of its context at a time."""
    def one(b: int) -> Expr:
        job = var(m, "job", b, info.buffers)
        writes = count(_imp(m), lambda j: job[j] == "WRITE", "j")
        reads = count(_imp(m), lambda j: job[j] == "READ", "j")
        importers = (writes <= 1) & ((writes == 0) | (reads == 0))
        exp_w, exp_r = _exporter_running(m, info, b)
        return conj(importers, exp_w.implies((writes == 0) & (reads == 0)), exp_r.implies(writes == 0))
    return conj(*(one(b) for b in range(info.buffers)))


def _exporter_running(m: Model, info: BuildInfo, b: int) -> tuple[Expr, Expr]:
    """The exporter's job that runs on the buffer now, as (writes, reads): a pending fence of its context
    whose dependencies (importer jobs, v5.7's replaced shared fences) signaled."""
    n = info.buffers
    if not has(m, vname("ef1", b, n)):
        return disj(), disj()
    access: dict = info.facts.get("exporter_access", {})  # type: ignore[assignment]
    slots = [("ef1", "EF1")]
    if info.facts.get("exporter_engines", 1) > 1:
        slots.append(("ef2", "EF2"))
    w, r = [], []
    for slot, tag in slots:
        ef = var(m, slot, b, n)
        blocked = []
        for base, value in ((f"{slot}dep", "DEP"), ("dropped", tag)):
            if has(m, vname(base, b, n)):
                arr = m.variable(vname(base, b, n))
                blocked.append(exists(_imp(m), lambda j, arr=arr, value=value: arr[j] == value, "j"))
        runs = ~disj(*blocked)
        for value in ("COPY", "JOB"):
            what = access.get(value)
            if what is not None:
                (w if what == "WRITE" else r).append((ef == value) & runs)
    return disj(*w), disj(*r)


def _has(name: str):
    return lambda m, info: has(m, vname(name, 0, info.buffers))


RULES = (
    Rule("fence-context-order", "fences of one context signal in seqno order (no later fence before an earlier one)",
         ("FENCE-3", "RESV-A2"), "dma-fence.c DOC 'DMA fences overview'; dma_fence_init() kernel-doc",
         context_order, applies=lambda p: p.fences, present=_has("ef1")),
    Rule("fence-slot-reserved", "a fence is added only into a slot reserved in the same resv lock hold",
         ("RESV-A1", "DL-17"), "dma_resv_reserve_fences(), dma_resv_add_fence() BUG_ON; dma_resv_reset_max_fences()",
         slot_reserved, applies=lambda p: p.reserve_slots,
         present=lambda m, info: any(v.name.startswith("slots") for v in m.variables)),
    Rule("kernel-fence-first", "no mapping, device job or CPU access starts while a move's copy (KERNEL fence) runs",
         ("RESV-U1", "MAP-7", "DYN-9", "MIG-6"), "enum dma_resv_usage KERNEL doc; dma_buf_map_attachment() "
         "dma_resv_wait_timeout(KERNEL) for static importers", kernel_fence_first, applies=lambda p: p.fences,
         present=lambda m, info: bool(info.facts.get("pipelined"))),
    Rule("cpu-begin-waits-fences", "begin_cpu_access returns only when the device writes (and, for a write, reads) "
         "it must wait for are done", ("CPU-2", "SYNC-2"), "__dma_buf_begin_cpu_access(); dma_resv_usage_rw()",
         cpu_begin_waits, applies=lambda p: p.cpu_access and p.fences,
         present=lambda m, info: bool(info.with_tag("cpu_wait_ef")) and bool(info.facts.get("exporter_jobs"))),
    Rule("implicit-sync-devices", "no device write runs on a buffer while another device reads or writes it "
         "(each job runs after the implicit fences it depends on)", ("SYNC-1", "SYNC-2", "SYNC-3"),
         "struct dma_buf resv doc 'IMPLICIT SYNCHRONIZATION RULES'; dma_resv_usage_rw(); "
         "drm_sched_job_add_implicit_dependencies()", implicit_sync, applies=lambda p: p.fences, present=_has("job")),
    Rule("cpu-access-bracketed", "CPU access happens only inside a begin/end_cpu_access bracket of its direction",
         ("CPU-1", "CPU-6", "CPU-9"), "dma-buf.c DOC 'cpu access'; uapi struct dma_buf_sync",
         cpu_bracketed, applies=lambda p: p.cpu_access, present=_has("acc")),
)
