"""The exporter's fence-signalling path and its own device work (SIG, MEM, FENCE-3, RESV-A1 rules).

Everything between publishing a fence and dma_fence_signal is a signalling
critical section (SIG-1/SIG-2); its actions hold the pseudo-lock
``dma_fence_map``. Inside it a driver must not take a resv lock, wait on a
fence, allocate with GFP_KERNEL/NOFS/NOIO or fault (SIG-3, MEM-1/2): the
design's ``Signalling`` says what its path does, and the action records it
in ``acquires``. The signalling action is one atomic step per fence: it can
only fire when every lock it takes is free, so a waiter that holds one of
those locks closes a wait-for cycle (fence -> lock -> holder -> fence, DL-1).

The exporter's own job (``Design.submit``) locks resv, reserves a fence
slot, adds its fence to the exporter's context (RESV-A1, SYNC-1); like a
pipelined move's copy, it runs on the GPU after the importer jobs it depends
on (``fence.ef_add``): the signalling path cannot complete it before.
"""

from __future__ import annotations

from dmabuf_check.model.components import fence, resv
from dmabuf_check.model.components.buffer import lock_for
from dmabuf_check.model.components.context import BuildContext
from dmabuf_check.model.components.program import Program
from dmabuf_check.model.design import Design
from dmabuf_check.model.expr import conj, disj, ite
from dmabuf_check.model.lang import assign
from dmabuf_check.model.lockdep_names import reclaim_maps
from dmabuf_check.model.profiles import Profile, usage_rw


def actions(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    if not fence.exporter_fences(d, p):
        return
    _signal(cx, d, p, b)
    if d.submit is not None:
        _exporter_submit(cx, d, p, b)


def _signal(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    sig = d.signalling
    ef1, ef2 = cx.g("ef1", b), cx.g("ef2", b)
    fs = fence.ef_fences(cx, b)
    assert fs is not None
    locks = [lock_for(cx, name, b) for name in (sig.locks if sig else ())]
    acquires = tuple(lk.name for lk in locks)
    if sig:
        acquires += reclaim_maps(sig.allocates)
    if sig and sig.waits and p.fence_annotations:
        acquires += ("dma_fence_map",)
    section = ("dma_fence_map",) if p.fence_annotations else ()  # dma_fence_begin_signalling() (v5.9+)
    free = [lk.holder == "FREE" for lk in locks]
    name = cx.name("signal_ef", b)
    call = "dma_fence_signal(exporter fence)"
    if locks:
        call = "; ".join(f"lock {lk.name}" for lk in locks) + "; " + call
    if sig and sig.allocates:
        call = f"kmalloc({sig.allocates}); " + call
    # in seqno order: the older fence signals; a newer one that already signaled goes with it
    # v5.7: an exclusive fence replaced the shared ones in the resv, so its job runs after them (the driver
    # collected them as dependencies first): it cannot signal while a job whose fence it dropped still runs
    deps = [~fence.dropped_by(cx, b, "EF1")] if cx.has("dropped", b) else []
    # a job the driver gave scheduler dependencies (a pipelined copy, its own submission) runs after them
    deps.append(~fence.ef_waits_for_jobs(cx, b, "ef1"))
    act = cx.m.action(name, conj(ef1 != "NONE", *free, *deps),
                      [assign(ef1, ite((ef2 == "COPY") | (ef2 == "JOB"), ef2, "NONE")), assign(ef2, "NONE"),
                       *fence.ef_signaled_effects(cx, b)],
                      actor="signaller", signals=fs, kernel="dma_fence_signal", call=call,
                      meaning="the exporter's engine completes its oldest fence", rule="SIG-1",
                      acquires=acquires, holds=section)
    _record(cx, act, b, "signal", waits=bool(sig and sig.waits))
    if sig is not None and not sig.in_order:  # two engines on one context: completion out of seqno order
        newer = [~fence.dropped_by(cx, b, "EF2")] if cx.has("dropped", b) else []
        newer.append(~fence.ef_waits_for_jobs(cx, b, "ef2"))
        act = cx.m.action(name + "_newer", conj(ef1 != "NONE", disj(ef2 == "COPY", ef2 == "JOB"), *free, *newer),
                          [assign(ef2, ite(ef2 == "COPY", "COPY_DONE", "JOB_DONE")),
                           *fence.ef_newer_signaled_effects(cx, b)], actor="signaller",
                          kernel="dma_fence_signal", call=call + " /* the newer fence of the context */",
                          meaning="the exporter's newer fence completes before the older one", rule="FENCE-3",
                          acquires=acquires, holds=section)
        _record(cx, act, b, "signal", waits=bool(sig and sig.waits))


def _record(cx: BuildContext, act, b: int, role: str, *, waits: bool = False) -> None:
    from dmabuf_check.model.components.context import StepInfo

    # the signaller is bound to run once a fence is published: it is "about to run" whenever enabled
    # or blocked, i.e. whenever the fence it signals is pending
    pending = cx.g("ef1", b) != "NONE"
    # the tags say what the path does whatever lockdep is told: before v5.9 no dma_fence_map annotates it
    tags = frozenset({"signalling"} | ({"fence_wait"} if waits else set()))
    cx.info.steps.append(StepInfo(act, pending, role, b, tags, None))


def _exporter_submit(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    sub = d.submit
    assert sub is not None
    released, storage = cx.g("released", b), cx.g("storage", b)
    sfx = "" if cx.buffers == 1 else f"_b{b}"
    prog = Program(cx, f"exp_submit{sfx}", "exporter", kernel="dma_resv_add_fence",
                      call=f"exporter job: dma_resv_add_fence(resv, fence, DMA_RESV_USAGE_{sub.usage})",
                      meaning="the exporter's own device work on the buffer", rule="RESV-A1", role="exp_submit",
                      buffer=b)
    prog.pre = conj(released == 0, storage != "UNALLOC", fence.ef_room(cx, b))
    holds_resv = False
    for name in sub.locks:
        lk = lock_for(cx, name, b)
        prog.lock(lk)
        holds_resv = holds_resv or name == "resv"
    if sub.faults:
        prog.fault("copy_from_user(job arguments)")
    if sub.allocates:
        prog.alloc(sub.allocates)
    slot = resv.needs_slot(p, sub.usage)
    if holds_resv and slot:
        resv.reserve(cx, prog, b) if sub.reserve_first else None
        if not sub.reserve_first:
            lk = resv.resv_of(cx, b)
            resv.reserve(cx, prog, b)
            prog.unlock(lk, "dma_resv_unlock(resv) /* reservation dropped */")
            prog.lock(lk, "dma_resv_lock(resv, NULL)")
    prog.require(fence.ef_room(cx, b))
    # the driver's own submission syncs to the resv like any implicit-sync job (SYNC-2): the GPU waits
    access = fence.exporter_access(d, "JOB")
    deps = None if access is None else usage_rw(access == "WRITE")
    resv.add_fence(cx, prog, b, *fence.ef_add(cx, b, "JOB", p, deps), p=p, usage=sub.usage, exporter=True)
