"""Multi-buffer reservation: importer submissions and exporter evictions over two resvs (RESV-W, DL-5).

An importer's command submission that uses both buffers locks both resvs,
in the order user space listed them (either order), within one ww acquire
context; with ``Importer.ww_ctx`` False it uses NULL contexts and can
deadlock ABBA (RESV-W4, DL-5a). Its steps (``pc[i]``):

    ww@H0 / ww@H1   holds the first resv, wants the other
    ww@S0 / ww@S1   backed off after -EDEADLK, lock_slow of the contended one
    ww@S1+H0 ...    lock_slow while still holding a lock (a RESV-W2 bug)

The exporter's eviction (``Design.evict``) holds one buffer's resv and locks
the other's to evict it, with its own context or a NULL one; on -EDEADLK it
returns an error and drops everything (TTM's behaviour).
"""

from __future__ import annotations

from dmabuf_check.model.components import fence, placement, resv
from dmabuf_check.model.components.buffer import DEVICE, lock_for
from dmabuf_check.model.components.context import BuildContext, LockRes, StepInfo
from dmabuf_check.model.components.program import Program
from dmabuf_check.model.design import Design
from dmabuf_check.model.expr import Expr, Param, conj, disj
from dmabuf_check.model.lang import Waits, assign
from dmabuf_check.model.profiles import Profile


def enabled(cx: BuildContext, p: Profile) -> bool:
    return cx.buffers == 2 and p.fences and any(k in ("static", "dynamic", "p2p") for k in cx.info.kinds)


def register(cx: BuildContext, d: Design, p: Profile) -> None:
    if enabled(cx, p):
        labels = ["ww@H0", "ww@H1"]
        if d.importer.ww_ctx and d.importer.ww_backoff != "ignore":
            labels += ["ww@S0", "ww@S1"]
            if d.importer.ww_backoff == "keep":
                labels += ["ww@S1+H0", "ww@S0+H1"]
        cx.imp_pc_labels.extend(labels)
        cx.late.append(lambda: _importer_submit(cx, d, p))
    if d.evict is not None and cx.buffers == 2 and p.fences:
        _evict(cx, d, p)


def _step(cx: BuildContext, name: str, i: Param, guard: Expr, effects: list, *, acquires: tuple[str, ...],
          holds: tuple[str, ...], waits: Waits | None, at: Expr, tags: frozenset[str], call: str) -> None:
    act = cx.m.action(name, guard, effects, params=(i,), actor="importers", kernel="drm_exec / ww_mutex_lock",
                      call=call, meaning="a command submission using both buffers (one ww acquire context)",
                      rule="RESV-W2", acquires=acquires, holds=holds, waits=waits)
    cx.info.steps.append(StepInfo(act, at, "submit_all", None, tags, i))
    if at is not guard:  # past ww_lock_first: the thread is inside the submission
        cx.info.continuations.add(name)


def _importer_submit(cx: BuildContext, d: Design, p: Profile) -> None:
    imp = d.importer
    ctx = imp.ww_ctx
    pc, kind = cx.pc, cx.a("kind")
    assert pc is not None
    L = [resv.resv_of(cx, 0), resv.resv_of(cx, 1)]
    names = [lk.name for lk in L]
    tkt = cx.a("tkt") if cx.has("tkt") else None
    ww = ("ww_acquire",) if ctx else ()

    def pre(i: Param) -> Expr:
        parts = [disj(*(kind[i] == k for k in DEVICE)), pc[i] == "IDLE"]
        for b in (0, 1):
            parts += [cx.a("map", b)[i] == 1, cx.a("job", b)[i] == "NONE"]
            if cx.has("stale", b) and imp.remaps_stale:
                parts.append(cx.a("stale", b)[i] == 0)
        return conj(*parts)

    def fresh(i: Param) -> Expr:
        """Both mappings still valid: checked again once every lock is held (a move may have run meanwhile)."""
        return conj(*(cx.a("stale", b)[i] == 0 for b in (0, 1) if cx.has("stale", b) and imp.remaps_stale))

    def bail(i: Param, held: list[LockRes]) -> list:
        """A mapping went stale while locking: drop everything and return -EAGAIN (remap, retry)."""
        eff: list = []
        for lk in held:
            eff.append(assign(lk.holder, "FREE"))
            eff.extend(lk.on_release)
        if ctx and tkt is not None:
            eff += resv.fini_ticket(cx, tkt[i]) + [assign(tkt[i], 0)]
        return eff + [assign(pc[i], "IDLE")]

    def finish(i: Param, held: list[LockRes]) -> list:
        """Reserve a slot and add the job's fence on each buffer, unlock, end the context."""
        eff: list = []
        for b in (0, 1):
            s = resv.slots_of(cx, b)
            eff += ([assign(s, 1)] if s is not None else []) + [
                *fence.job_submit_effects(cx, d, p, b, i, "WRITE"),
                *fence.drop_shared(cx, p, b, "WRITE")]
            eff += [assign(s, 0)] if s is not None else []
        once: list[LockRes] = []
        for lk in held:  # a shared resv is unlocked once
            if not any(lk is x for x in once):
                once.append(lk)
        for lk in once:
            eff.append(assign(lk.holder, "FREE"))
            eff.extend(lk.on_release)
        if ctx and tkt is not None:
            eff += resv.fini_ticket(cx, tkt[i]) + [assign(tkt[i], 0)]
        return eff + [assign(pc[i], "IDLE")]

    for first in (0, 1):
        other = 1 - first
        i = Param("i", cx.I)
        start = [assign(L[first].holder, i), assign(pc[i], f"ww@H{first}")]
        if ctx and tkt is not None:
            start.insert(0, assign(tkt[i], resv.new_ticket(cx)))
        g = conj(pre(i), L[first].holder == "FREE")
        _step(cx, f"ww_lock_first_b{first}", i, g, start, acquires=ww + (names[first],), holds=(), waits=None,
              at=g, tags=frozenset(), call=f"ww_acquire_init(&ctx); dma_resv_lock(resv{first}, &ctx)")
        # holding `first`, wanting `other`
        i = Param("i", cx.I)
        at = pc[i] == f"ww@H{first}"
        already = L[other] is L[first] and ctx  # -EALREADY: this context holds the shared resv already
        die = resv.holder_older(cx, L[other], tkt[i]) if ctx and tkt is not None and imp.ww_backoff != "ignore" \
            else disj()
        holds_now = ww + (names[first],)
        if already:
            _step(cx, f"ww_ealready_b{other}", i, conj(at, L[other].holder == i, fresh(i)), finish(i, [L[first]]),
                  acquires=(), holds=holds_now, waits=None, at=at, tags=frozenset({"done", "add_fence",
                  "add_fence_reserved", "access"}), call=f"dma_resv_lock(resv{other}, &ctx) = -EALREADY; submit")
            got_cond = L[other].holder == i
        else:
            got = [assign(L[other].holder, i)] + finish(i, [L[first], L[other]])
            _step(cx, f"ww_lock_b{other}_after_b{first}", i, conj(at, L[other].holder == "FREE", ~die, fresh(i)),
                  got, acquires=(names[other],), holds=holds_now, waits=Waits(L[other].decl, conj(at, ~die)),
                  at=at, tags=frozenset({"done", "add_fence", "add_fence_reserved", "access"}),
                  call=f"dma_resv_lock(resv{other}, &ctx); submit")
            got_cond = L[other].holder == "FREE"
        if cx.has("stale", 0) and imp.remaps_stale:
            _step(cx, f"ww_stale_b{other}_after_b{first}", i, conj(at, got_cond, ~die, ~fresh(i)),
                  bail(i, [L[first]]), acquires=() if already else (names[other],), holds=holds_now, waits=None,
                  at=at, tags=frozenset({"abort"}), call="a mapping went stale: unlock all, -EAGAIN")
        if ctx and tkt is not None and imp.ww_backoff != "ignore" and not already:
            if imp.ww_backoff == "release":
                eff = [assign(L[first].holder, "FREE"), *L[first].on_release, assign(pc[i], f"ww@S{other}")]
                tail = f"ww@S{other}"
            else:  # "keep": lock_slow without dropping the lock it holds (RESV-W2 forbids it)
                eff = [assign(pc[i], f"ww@S{other}+H{first}")]
                tail = f"ww@S{other}+H{first}"
            _step(cx, f"ww_edeadlk_b{other}_after_b{first}", i, conj(at, die), eff, acquires=(), holds=holds_now,
                  waits=None, at=at, tags=frozenset({"edeadlk"}),
                  call=f"dma_resv_lock(resv{other}, &ctx) = -EDEADLK: back off to {tail}")
    if not (ctx and tkt is not None and imp.ww_backoff != "ignore"):
        return
    for want in (0, 1):
        other = 1 - want
        i = Param("i", cx.I)
        if imp.ww_backoff == "release":
            at = pc[i] == f"ww@S{want}"
            eff = [assign(L[want].holder, i), assign(pc[i], f"ww@H{want}")]
            _step(cx, f"ww_lock_slow_b{want}", i, conj(at, L[want].holder == "FREE"), eff,
                  acquires=(names[want],), holds=ww, waits=Waits(L[want].decl, at), at=at,
                  tags=frozenset({"lock_slow"}), call=f"dma_resv_lock_slow(resv{want}, &ctx)")
        else:
            at = pc[i] == f"ww@S{want}+H{other}"
            eff = [assign(L[want].holder, i)] + finish(i, [L[other], L[want]])
            _step(cx, f"ww_lock_slow_b{want}_holding_b{other}", i, conj(at, L[want].holder == "FREE", fresh(i)), eff,
                  acquires=(names[want],), holds=ww + (names[other],), waits=Waits(L[want].decl, at), at=at,
                  tags=frozenset({"lock_slow", "lock_slow_holding", "done", "add_fence", "add_fence_reserved",
                                  "access"}),
                  call=f"dma_resv_lock_slow(resv{want}, &ctx) /* still holding resv{other} */")
            if cx.has("stale", 0) and imp.remaps_stale:
                _step(cx, f"ww_stale_slow_b{want}_holding_b{other}", i, conj(at, L[want].holder == "FREE",
                      ~fresh(i)), bail(i, [L[other]]), acquires=(names[want],), holds=ww + (names[other],),
                      waits=None, at=at, tags=frozenset({"abort"}), call="a mapping went stale: unlock all, -EAGAIN")


def _evict(cx: BuildContext, d: Design, p: Profile) -> None:
    """The exporter validates buffer 0 into VRAM and evicts buffer 1 to system memory first."""
    ev = d.evict
    assert ev is not None
    storage1 = cx.g("storage", 1)
    prog: Program = Program(cx, "evict", "exporter", kernel="ttm_mem_evict_first",
                               call="evict buffer 1 while validating buffer 0", role="evict", buffer=1,
                               meaning="the exporter evicts the other buffer while holding this one's resv",
                               rule="RESV-W4")
    prog.pre = conj(cx.g("released", 0) == 0, cx.g("released", 1) == 0, storage1 == "VRAM",
                    cx.g("storage", 0) != "UNALLOC")
    ctx = ev.ww and cx.has("exp_tkt")
    exp_tkt = cx.g("exp_tkt") if ctx else None
    if ctx:
        prog.acquire_ctx = "ww_acquire"  # ww_acquire_init before the first lock, held until fini
    locks = [lock_for(cx, name, 0) for name in ev.locks]
    fini = resv.fini_ticket(cx, exp_tkt) + [assign(exp_tkt, 0)] if exp_tkt is not None else []
    taken: list[LockRes] = []
    for k, lk in enumerate(locks):
        if any(lk is t for t in taken) and ctx:
            continue  # -EALREADY: the context holds it already (shared resv)
        if k == 0 and exp_tkt is not None:
            prog.lock(lk, f"ww_acquire_init(&ctx); dma_resv_lock({lk.name}, &ctx)")
            prog.do(assign(exp_tkt, resv.new_ticket(cx)))
        else:
            prog.lock(lk, f"dma_resv_lock({lk.name}, {'&ctx' if ctx else 'NULL'})")
            if exp_tkt is not None and taken:
                prog.abort_if(resv.holder_older(cx, lk, exp_tkt), *fini, text="-EDEADLK: return -EBUSY, back off",
                              needs_block=False)
        taken.append(lk)
    if cx.has("pins", 1) and d.move is not None and d.move.respects_pins:
        prog.abort_if(cx.g("pins", 1) > 0, *fini, text="victim pinned: -EBUSY")
    if d.move is not None and d.move.notify and p.dynamic:
        prog.do(*placement.notify_effects(cx, 1))
    placement.wait_fences(cx, d, p, prog, 1, d.move.waits if d.move else "BOOKKEEP")
    prog.do(assign(storage1, "SYS"), *fini).tag("move")
