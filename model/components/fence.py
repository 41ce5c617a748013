"""Fences: importer DMA jobs, the exporter's fence context, waits by usage class (FENCE, RESV-U rules).

Per buffer b:

- ``job[i]``: importer i's DMA job on the buffer is in flight; its fence sits in
  the buffer's reservation object with that usage (READ or WRITE for implicit
  sync, BOOKKEEP for explicitly synchronised work, SYNC-1). The importer's
  device signals it (``hardware``).
- ``ef1``/``ef2``: the exporter's own fence context (its copy engine or render
  ring), two fences in seqno order: COPY (a pipelined move, added with the
  design's move-fence usage) or JOB (the exporter's own rendering). The
  exporter's signalling path signals them, in order unless the design lets
  them complete out of order, which leaves ``ef2 = COPY_DONE/JOB_DONE`` while
  ``ef1`` is pending: exactly the state FENCE-3 forbids.

dma_resv_add_fence keeps one entry per context and replaces an older fence
of the same context when the new one is later and its usage at least as
strong (RESV-A2), so what a waiter sees of the exporter's context is its
latest fence: ``pending_upto`` reads that view, ``truly_pending`` reads the
real state (what properties compare against).
"""

from __future__ import annotations

from dmabuf_check.model.components.context import BuildContext
from dmabuf_check.model.design import Design
from dmabuf_check.model.expr import Expr, Param, conj, disj, exists, ite, lift
from dmabuf_check.model.lang import FenceSet, assign, for_each, when
from dmabuf_check.model.profiles import Profile, usage_rank, usage_rw
from dmabuf_check.model.types import Enum

EF_VALUES = ("NONE", "COPY", "JOB")
DROPPED = ("NO", "EF1", "EF2", "IMP")  # who replaced a shared fence (v5.7): the exporter fence slot, or an importer
EFDEP = ("NO", "DEP", "WAIT")  # an importer job vs one exporter fence: who is the other's scheduler dependency


def job_usages(cx: BuildContext, d: Design, p: Profile) -> tuple[str, ...]:
    """The usages importer jobs are added with: implicit sync writes and reads; BOOKKEEP for dynamic importers."""
    if not p.fences or not any(k in ("static", "dynamic", "p2p") for k in cx.info.kinds):
        return ()
    out = ["WRITE", "READ"]
    if "BOOKKEEP" in p.usage_classes and any(k in ("dynamic", "p2p") for k in cx.info.kinds):
        out.append("BOOKKEEP")
    return tuple(out)


def exporter_fences(d: Design, p: Profile) -> bool:
    return p.fences and ((d.move is not None and d.move.pipelined) or d.submit is not None)


IMPLICIT = ("WRITE", "READ")  # the usages of implicit synchronisation (SYNC-1)
QUEUED = "_Q"  # a job whose fence is published while the scheduler holds it behind its dependencies


def usage_of(label: str) -> str:
    """The usage class of a job state: WRITE_Q (queued) is a WRITE job not running yet."""
    return label.removesuffix(QUEUED)


def declare(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    usages = job_usages(cx, d, p)
    if usages and p.excl_replaces_shared and any(usage_rank(p, u) > 0 for u in usages):
        cx.arr("dropped", b, Enum("dropped", *DROPPED), "NO", kernel="dma_resv_add_excl_fence(): shared_count = 0",
               meaning="importer i's shared fence was dropped from the resv by a later exclusive fence (EF1/EF2: "
                       "the exporter's fence in that slot, which runs after it; IMP: an importer's): its job still "
                       "runs, waiters on the resv no longer see it", rule="RESV-U2")
    if usages:
        queued = [u + QUEUED for u in usages if u in IMPLICIT]
        cx.arr("job", b, Enum("job", "NONE", *usages, *queued), "NONE", kernel="dma_resv_add_fence(importer job)",
               meaning="importer i's DMA job: its fence in the resv with this usage; *_Q: queued in the scheduler "
                       "behind the fences it depends on, not accessing the buffer yet", rule="DYN-9")
    if usages and exporter_fences(d, p):
        for slot in ("ef1", "ef2"):
            cx.arr(f"{slot}dep", b, Enum(f"{slot}dep", *EFDEP), "NO",
                   kernel="scheduler dependencies: drm_sched_job_add_resv_dependencies(), amdgpu_sync_resv()",
                   meaning=f"between importer i's job and the exporter's fence in {slot}: DEP = that fence's job "
                           "(a pipelined copy, the driver's own work) depends on importer i's job, WAIT = importer "
                           "i's job depends on that fence; the GPU waits, not the CPU", rule="SYNC-1")
    if exporter_fences(d, p):
        cx.var("ef1", b, Enum("ef1", *EF_VALUES), "NONE", kernel="exporter dma_fence (seqno n)",
               meaning="older pending fence of the exporter's context: a pipelined move copy or its own job",
               rule="FENCE-3")
        cx.var("ef2", b, Enum("ef2", *EF_VALUES, "COPY_DONE", "JOB_DONE"), "NONE",
               kernel="exporter dma_fence (seqno n+1)",
               meaning="newer fence of the same context; *_DONE = signaled while the older one is not",
               rule="FENCE-3")


def exporter_access(d: Design, value: str) -> str | None:
    """What the exporter's job behind a COPY or JOB fence does to the buffer, for implicit sync: a move's copy
    writes it; its own job by its usage (READ reads, BOOKKEEP is explicitly synchronised: None)."""
    if value == "COPY":
        return "WRITE"
    usage = d.submit.usage if d.submit else "WRITE"
    return None if usage == "BOOKKEEP" else ("READ" if usage == "READ" else "WRITE")


def ef_usage(d: Design, value: str) -> str:
    if value == "COPY":
        return d.move.fence_usage if d.move else "KERNEL"
    return d.submit.usage if d.submit else "WRITE"


def job_in(job, j, labels) -> Expr:
    """Importer j's job is in one of the states ``labels``."""
    return disj(*(job[j] == u for u in labels))


def _labels(p: Profile, job, keep) -> list[str]:
    """The job states (queued or running) whose usage class passes ``keep(rank)``."""
    return [u for u in job.type.labels[1:] if keep(usage_rank(p, usage_of(u)))]  # type: ignore[attr-defined]


def _in_resv(cx: BuildContext, b: int, job, j, labels) -> Expr:
    """Importer j's job is in one of ``labels`` and its fence is an entry of the resv."""
    return conj(job_in(job, j, labels), *_visible(cx, b, j))


def job_pending_upto(cx: BuildContext, p: Profile, b: int, cls: str) -> Expr:
    """Some importer job whose usage is ``cls`` or stronger is pending (what dma_resv_wait(cls) waits for)."""
    if not cx.has("job", b):
        return disj()
    job = cx.a("job", b)
    usages = _labels(p, job, lambda r: r <= usage_rank(p, cls))
    return exists(cx.I, lambda j: _in_resv(cx, b, job, j, usages), "j")


def _visible(cx: BuildContext, b: int, j) -> list[Expr]:
    """The job's fence is still an entry of the resv (v5.7: not dropped by a later exclusive fence)."""
    return [cx.a("dropped", b)[j] == "NO"] if cx.has("dropped", b) else []


def dropped_by(cx: BuildContext, b: int, slot: str) -> Expr:
    """Some job whose fence the exporter's fence in ``slot`` (EF1/EF2) replaced is still running."""
    dropped = cx.a("dropped", b)
    return exists(cx.I, lambda j: dropped[j] == slot, "j")


def retag_dropped(cx: BuildContext, b: int, old: str, new: str) -> list:
    """The exporter's fence moved slot (its older one signaled) or stopped covering the jobs it replaced."""
    if not cx.has("dropped", b):
        return []
    dropped = cx.a("dropped", b)
    return [for_each(cx.I, lambda j: [when(dropped[j] == old, dropped[j], new)])]


def drop_shared(cx: BuildContext, p: Profile, b: int, usage: str, *, exporter: bool = False) -> list:
    """v5.7 dma_resv_add_excl_fence(): every shared fence leaves the resv (the jobs themselves go on).

    An exporter's fence (effects run after ``ef_add``: it sits in ef2 if ef2 is now taken) must run after
    the jobs it replaced; an importer's exclusive job depends on them through its scheduler dependencies."""
    if not cx.has("dropped", b) or usage_rank(p, usage) != 0:
        return []
    job, dropped = cx.a("job", b), cx.a("dropped", b)
    shared = _labels(p, job, lambda r: r > 0)
    if not exporter:
        whos: list[tuple[Expr, str]] = [(lift(True), "IMP")]
    else:
        ef2 = cx.g("ef2", b)
        whos = [(ef2 == "NONE", "EF1"), (ef2 != "NONE", "EF2")]
    return [for_each(cx.I, lambda j: [when(job_in(job, j, shared) & (dropped[j] == "NO") & c,
                                           dropped[j], who) for c, who in whos])]


def job_fences(cx: BuildContext, p: Profile, b: int, cls: str) -> FenceSet:
    """The fence set 'importer jobs of usage cls or stronger', for wait-for edges (cached per class)."""
    key = f"{cx.name('job', b)}<={cls}"
    if key not in cx.fence_sets:
        job = cx.a("job", b)
        usages = _labels(p, job, lambda r: r <= usage_rank(p, cls))
        cx.fence_sets[key] = cx.m.fence_set(key, cx.I, lambda j: _in_resv(cx, b, job, j, usages),
                                            cx.name("signal_job", b), kernel="importer job dma_fence")
    return cx.fence_sets[key]


def _replaced(d: Design, p: Profile, old: str, new: str) -> bool:
    """RESV-A2: a later fence of the same context replaces an entry whose usage is at least as weak."""
    return usage_rank(p, ef_usage(d, old)) >= usage_rank(p, ef_usage(d, new))


def ef_pending_upto(cx: BuildContext, d: Design, p: Profile, b: int, cls: str) -> Expr:
    """The exporter fences a waiter on ``cls`` sees pending (the resv view, see the module doc)."""
    return disj(*(ef_visible(cx, d, p, b, cls, slot) for slot in ("ef1", "ef2")))


def ef_visible(cx: BuildContext, d: Design, p: Profile, b: int, cls: str, slot: str) -> Expr:
    """The exporter's fence in ``slot`` is pending and a waiter on ``cls`` sees it in the resv."""
    if not cx.has("ef1", b):
        return disj()
    ef1, ef2 = cx.g("ef1", b), cx.g("ef2", b)
    rank = usage_rank(p, cls)
    waited = [v for v in ("COPY", "JOB") if usage_rank(p, ef_usage(d, v)) <= rank]
    if slot == "ef2":
        return disj(*(ef2 == v for v in waited))
    parts = []
    for old in waited:
        # the older fence is still an entry of the resv unless the newer one replaced it
        kept = [ef2 == "NONE"] + [ef2 == x for new in ("COPY", "JOB") for x in (new, f"{new}_DONE")
                                  if not _replaced(d, p, old, new)]
        parts.append(conj(ef1 == old, disj(*kept)))
    return disj(*parts)


def ef_fences(cx: BuildContext, b: int) -> FenceSet | None:
    key = cx.name("ef", b)
    if key not in cx.fence_sets:
        if not cx.has("ef1", b):
            return None
        ef1, ef2 = cx.g("ef1", b), cx.g("ef2", b)
        cx.fence_sets[key] = cx.m.fence_set(key, None, lambda _: (ef1 != "NONE") | (ef2 == "COPY") | (ef2 == "JOB"),
                                            cx.name("signal_ef", b), kernel="exporter dma_fence")
    return cx.fence_sets[key]




def ef_add(cx: BuildContext, b: int, value: str, p: Profile | None = None, depends_on: str | None = None) -> list:
    """Append a fence to the exporter's context (the caller checks ``ef2 == NONE``: two in flight at most).

    ``depends_on``: the job behind the fence depends on the importer jobs of that usage class or stronger
    now in the resv (the driver hands them to the scheduler: the GPU waits, the CPU does not)."""
    ef1, ef2 = cx.g("ef1", b), cx.g("ef2", b)
    deps = []
    if depends_on is not None and p is not None and cx.has("ef1dep", b):
        job, dep1, dep2 = cx.a("job", b), cx.a("ef1dep", b), cx.a("ef2dep", b)
        labels = _labels(p, job, lambda r: r <= usage_rank(p, depends_on))

        def tag(j):  # the new fence takes ef1 if the context is idle, else ef2
            on = _in_resv(cx, b, job, j, labels)
            if cx.has("dropped", b):  # v5.7: an importer's exclusive job that dropped j's fence runs after j
                on = on | (job_in(job, j, labels) & (cx.a("dropped", b)[j] == "IMP"))
            # a job of one context runs after the context's earlier job (one scheduler entity), so the new
            # fence also waits for what the older one waits for (v5.7: the shared fences it dropped)
            inherited = on | (dep1[j] == "DEP")
            return [when(on & (ef1 == "NONE"), dep1[j], "DEP"), when(inherited & (ef1 != "NONE"), dep2[j], "DEP")]
        deps = [for_each(cx.I, tag)]
    return [*deps, assign(ef2, ite(ef1 == "NONE", ef2, value)), assign(ef1, ite(ef1 == "NONE", value, ef1))]


def ef_waits_for_jobs(cx: BuildContext, b: int, slot: str) -> Expr:
    """The exporter's fence in ``slot`` (ef1/ef2) still has an importer job to wait for: it cannot run yet."""
    if not cx.has(f"{slot}dep", b):
        return disj()
    dep = cx.a(f"{slot}dep", b)
    return exists(cx.I, lambda j: dep[j] == "DEP", "j")


def ef_signaled_effects(cx: BuildContext, b: int) -> list:
    """The older exporter fence signaled and the newer one takes its slot: so do their dependencies."""
    out = retag_dropped(cx, b, "EF2", "EF1")
    if cx.has("ef1dep", b):
        dep1, dep2 = cx.a("ef1dep", b), cx.a("ef2dep", b)
        out.append(for_each(cx.I, lambda j: [assign(dep1[j], dep2[j]), assign(dep2[j], "NO")]))
    return out


def ef_newer_signaled_effects(cx: BuildContext, b: int) -> list:
    """The newer exporter fence signaled first: the jobs that waited for it are free of it."""
    out = retag_dropped(cx, b, "EF2", "IMP")
    if cx.has("ef2dep", b):
        dep2 = cx.a("ef2dep", b)
        out.append(for_each(cx.I, lambda j: [assign(dep2[j], "NO")]))
    return out


def ef_room(cx: BuildContext, b: int) -> Expr:
    return cx.g("ef2", b) == "NONE"


def _conflicts(usage: str) -> tuple[str, ...]:
    """SYNC-2 (dma_resv_usage_rw): a write depends on every implicit fence, a read on the writes only."""
    return IMPLICIT if usage == "WRITE" else ("WRITE",)


def job_submit_effects(cx: BuildContext, d: Design, p: Profile, b: int, i: Param, usage: str) -> list:
    """Importer i's job is submitted with ``usage``: the exporter fences its scheduler collects (it runs after
    them), then the job's state."""
    job = cx.a("job", b)
    if not _queues(cx, d, b, usage):
        return [assign(job[i], usage)]
    waits = []
    if cx.has("ef1dep", b):
        cls = usage_rw(usage == "WRITE")
        waits = [when(ef_visible(cx, d, p, b, cls, slot), cx.a(f"{slot}dep", b)[i], "WAIT") for slot in ("ef1", "ef2")]
    return [*waits, assign(job[i], _state_at_submit(cx, d, p, b, usage))]


def _queues(cx: BuildContext, d: Design, b: int, usage: str) -> bool:
    """A job of this usage goes through the scheduler's implicit dependencies (SYNC-1)."""
    return (usage in IMPLICIT and d.importer.implicit_sync
            and usage + QUEUED in cx.a("job", b).type.labels)  # type: ignore[attr-defined]


def _state_at_submit(cx: BuildContext, d: Design, p: Profile, b: int, usage: str) -> Expr:
    """The job's state when its fence is added: queued behind the implicit fences the scheduler must wait
    for (drm_sched_job_add_implicit_dependencies with dma_resv_usage_rw(): other devices' jobs and the
    exporter's own fences), or running at once (nothing to wait for)."""
    job = cx.a("job", b)
    deps = [u for c in _conflicts(usage) for u in (c, c + QUEUED)]
    # the scheduler collects its dependencies from the resv: a fence dropped from it (v5.7) is not one
    pending = exists(cx.I, lambda j: _in_resv(cx, b, job, j, deps), "j")
    pending = pending | ef_pending_upto(cx, d, p, b, usage_rw(usage == "WRITE"))
    return ite(pending, usage + QUEUED, usage)


def _read_came_later(cx: BuildContext, b: int, j, k) -> Expr:
    """Importer j's queued read was submitted after importer k's queued write: it waits for an exporter fence
    that depends on k's job (so k's scheduler cannot have collected j's fence; waiting for it would close a
    cycle the kernel does not have)."""
    if not cx.has("ef1dep", b):
        return disj()
    return disj(*((cx.a(f"{s}dep", b)[k] == "DEP") & (cx.a(f"{s}dep", b)[j] == "WAIT") for s in ("ef1", "ef2")))


def job_actions(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    """The importer's device starts a queued job once its dependencies signaled, and completes a running one
    (FENCE-1: signaled once, for good)."""
    if not cx.has("job", b):
        return
    job = cx.a("job", b)
    i = Param("i", cx.I)
    fs = cx.m.fence_set(cx.name("job", b), cx.I, lambda j: job[j] != "NONE", cx.name("signal_job", b),
                        kernel="importer job dma_fence")
    labels = job.type.labels  # type: ignore[attr-defined]
    runs = [u for u in labels[1:] if not u.endswith(QUEUED)]
    gone = [assign(cx.a(v, b)[i], "NO") for v in ("dropped", "ef1dep", "ef2dep") if cx.has(v, b)]
    cx.m.action(cx.name("signal_job", b), job_in(job, i, runs), [assign(job[i], "NONE"), *gone],
                params=(i,),
                actor="hardware", signals=fs, kernel="dma_fence_signal", call="dma_fence_signal(job{i}_fence)",
                meaning="importer i's DMA job completes and its fence signals", rule="FENCE-1")
    for u in IMPLICIT:
        if u + QUEUED not in labels:
            continue
        k = Param("i", cx.I)
        # a queued write also waits for queued reads (it may depend on them: a read queued behind an earlier
        # write, or one it dropped from the resv before v5.19); a queued read waits only for running writes, so
        # two queued jobs never wait for each other
        deps = _conflicts(u)
        later_reads = u == "WRITE" and "READ" + QUEUED in labels
        if cx.has("ef1dep", b):  # the exporter fences its scheduler collected at submit
            exp = (cx.a("ef1dep", b)[k] == "WAIT") | (cx.a("ef2dep", b)[k] == "WAIT")
        else:
            exp = ef_pending_upto(cx, d, p, b, usage_rw(u == "WRITE"))

        def waits_for(j, deps=deps, later_reads=later_reads, k=k):
            if not later_reads:
                return job_in(job, j, deps)
            return job_in(job, j, deps) | ((job[j] == "READ" + QUEUED) & ~_read_came_later(cx, b, j, k))
        busy = exists(cx.I, waits_for, "j") | exp
        cx.m.action(cx.name(f"run_job_{u.lower()}", b), (job[k] == u + QUEUED) & ~busy, [assign(job[k], u)],
                    params=(k,), actor="hardware", kernel="drm_sched_run_job",
                    call="drm_sched: job{i} runs (its dependencies signaled)",
                    meaning="the scheduler starts importer i's queued job once the fences it depends on signaled",
                    rule="SYNC-1")
