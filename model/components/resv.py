"""Reservation objects: the resv ww_mutex, fence slots, acquire contexts (RESV, LOCK rules).

Per buffer the resv lock is a holder variable (FREE, EXP, SIG or importer i);
buffers may share one resv (REF-4). The driver's own locks are holder
variables too. With ``reserve_slots`` (v5.19+) ``slots`` counts fence slots
reserved in the current lock hold; debug builds drop them at unlock
(dma_resv_reset_max_fences), so an add in a later hold finds none (RESV-A1).

Two-buffer designs lock both resvs in one ww acquire context (RESV-W1..W5):
importer i's ticket ``tkt[i]`` (and the exporter's ``exp_tkt``) is its age
among the live contexts, 1 the oldest; a context that ends renumbers the
younger ones, so tickets stay small and symmetric. Wait-die: a younger
context that wants a lock held by an older one, while holding a lock
itself, gets -EDEADLK, must drop everything and lock_slow the contended lock
(RESV-W2); an older one waits. A NULL context never backs off (RESV-W4).
-EALREADY tells a context it already holds a (shared) resv (RESV-W3).
"""

from __future__ import annotations

from dmabuf_check.model.components.context import BuildContext, LockRes
from dmabuf_check.model.components.fence import drop_shared
from dmabuf_check.model.design import Design
from dmabuf_check.model.expr import Expr, conj, count, disj, exists
from dmabuf_check.model.lang import assign, when
from dmabuf_check.model.profiles import Profile, usage_rank
from dmabuf_check.model.types import Range


def declare(cx: BuildContext, d: Design, p: Profile) -> None:
    cx.info.facts["shared_resv"] = d.shared_resv and d.buffers > 1
    if p.fences:
        bufs = [None] if cx.info.facts["shared_resv"] else list(range(cx.buffers))
        for b in bufs:
            lk = cx.add_lock(cx.name("resv", b), "reservation_ww_class_mutex", "owner", b,
                             kernel="dma_resv_lock(dmabuf->resv)", meaning="holder of the buffer's reservation lock",
                             rule="RESV-W1")
            if p.reserve_slots:
                slots = cx.var("slots", b, Range(0, 1), 0, kernel="dma_resv_reserve_fences",
                               meaning="fence slots reserved in the current lock hold", rule="RESV-A1")
                lk.on_release.append(assign(slots, 0))  # debug builds: reservations do not survive an unlock
    for name in d.locks:
        cx.add_lock(name, f"{d.name}:{name}", f"lk_{name}", None, kernel=f"mutex_lock(&drv->{name})",
                    meaning=f"holder of the driver lock {name}", rule="LOCK-3")
    if uses_ww(cx, d, p):
        n = cx.I.size + 1
        cx.arr("tkt", None, Range(0, n), 0, kernel="ww_acquire_ctx stamp",
               meaning="importer i's acquire context: its age among live contexts (1 oldest), 0 none", rule="RESV-W1")
        cx.var("exp_tkt", None, Range(0, n), 0, kernel="ww_acquire_ctx stamp",
               meaning="the exporter's acquire context age, 0 none", rule="RESV-W1")


def uses_ww(cx: BuildContext, d: Design, p: Profile) -> bool:
    return p.fences and cx.buffers > 1 and (d.importer.ww_ctx or (d.evict is not None and d.evict.ww))


def resv_of(cx: BuildContext, b: int) -> LockRes:
    return cx.lock("resv" if cx.info.facts.get("shared_resv") else cx.name("resv", b))


def slots_of(cx: BuildContext, b: int) -> Expr | None:
    name = "slots" if cx.info.facts.get("shared_resv") else cx.name("slots", b)
    return cx.m.variable(name).ref() if any(v.name == name for v in cx.m.variables) else None


def reserve(cx: BuildContext, prog, b: int) -> None:
    s = slots_of(cx, b)
    if s is not None:
        prog.do(assign(s, 1)).tag("reserve")


def needs_slot(p: Profile, usage: str) -> bool:
    """RESV-A1: from v5.19 every dma_resv_add_fence() needs a reserved slot; before, only a shared fence
    (dma_resv_add_shared_fence() BUG_ONs without dma_resv_reserve_shared()), not dma_resv_add_excl_fence()."""
    return p.reserve_slots and not (p.shared_only_slots and usage_rank(p, usage) == 0)


def add_fence(cx: BuildContext, prog, b: int, *effects, p: Profile, usage: str, exporter: bool = False) -> None:
    """dma_resv_add_fence: needs a slot reserved in this hold (RESV-A1), consumes it."""
    s = slots_of(cx, b)
    effects = (*effects, *drop_shared(cx, p, b, usage, exporter=exporter))  # v5.7: exclusive replaces shared
    if not needs_slot(p, usage):  # v5.7's exclusive slot: always there, nothing reserved or consumed
        prog.tag("add_fence")
        prog.tag("add_excl")
        prog.do(*effects)
        return
    prog.tag("add_fence")
    prog.do(*effects, *([assign(s, 0)] if s is not None else []))


# ---- acquire contexts ---------------------------------------------------------
def new_ticket(cx: BuildContext) -> Expr:
    tkt = cx.a("tkt")
    return 1 + count(cx.I, lambda j: tkt[j] != 0, "j") + (cx.g("exp_tkt") != 0)


def fini_ticket(cx: BuildContext, mine: Expr) -> list:
    """ww_acquire_fini: contexts younger than this one move up one place."""
    from dmabuf_check.model.components.context import foreach

    tkt, exp_tkt = cx.a("tkt"), cx.g("exp_tkt")
    return [foreach(cx.I, lambda j: [when(tkt[j] > mine, tkt[j], tkt[j] - 1)]),
            when(exp_tkt > mine, exp_tkt, exp_tkt - 1)]


def holder_older(cx: BuildContext, lk: LockRes, mine: Expr) -> Expr:
    """The lock is held by a context older than ``mine`` (wait-die: then the requester dies)."""
    tkt, exp_tkt = cx.a("tkt"), cx.g("exp_tkt")
    by_importer = exists(cx.I, lambda j: conj(lk.holder == j, tkt[j] != 0, tkt[j] < mine), "j")
    return disj(by_importer, conj(lk.holder == "EXP", exp_tkt != 0, exp_tkt < mine))
