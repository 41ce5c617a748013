"""The step compiler: one kernel call, compiled into one action per blocking point.

A kernel call that takes locks in an order, or waits while holding one, is
not atomic: another thread can run between its lock acquisitions, and that
is where ABBA deadlocks and lock-held-across-wait deadlocks live. A
``Program`` describes one call as a list of instructions (lock, unlock,
wait, allocate, fault, effects); ``emit`` splits it into one action per
*blocking point* (a lock acquisition or a fence wait) and threads the steps
with a program-counter variable of the calling actor (``pc[i]`` for
importer i, ``exp_pc`` for the exporter). A call with one blocking point
stays one atomic action, so the state space only grows where interleavings
can matter.

Every action records the locks its actor holds when it starts (``holds``)
and those it takes, in order (``acquires``), pseudo-locks included:
``fs_reclaim`` for an allocation that may enter reclaim, ``mmap_lock`` for a
fault or copy_*_user, ``dma_fence_map`` for a fence wait (taken and released
at once) and, in ``holds``, for a fence signalling critical section. Real
locks are held from their acquisition to the end of the action unless a
later action lists them in ``holds``; the transient pseudo-locks are
released as soon as they are taken. A lockdep-style order graph can be built
from exactly this metadata (an edge from each held lock to each acquired one).
"""

from __future__ import annotations

from dataclasses import dataclass

from dmabuf_check.model.components.context import EXP, FREE, IDLE, SIG, BuildContext, LockRes, StepInfo
from dmabuf_check.model.expr import Expr, Param, conj, lift
from dmabuf_check.model.lang import Effect, FenceSet, Lock, Variable, Waits, assign
from dmabuf_check.model.lockdep_names import reclaim_maps
from dmabuf_check.model.types import BOOL, Enum, ModelError

_NO_BLOCK = LockRes("-", "-", lift(True), Lock("-", Variable("-", BOOL, 0), "FREE", {}))


@dataclass
class _Instr:
    op: str  # lock unlock wait do require alloc fault abort tag
    lock: LockRes | None = None
    fences: FenceSet | None = None
    cond: Expr | None = None
    effects: tuple[Effect, ...] = ()
    text: str = ""
    maps: tuple[str, ...] = ()  # an allocation: the reclaim maps lockdep records for its GFP flags

    @property
    def blocking(self) -> bool:
        return self.op in ("lock", "wait")


@dataclass
class _Segment:
    block: _Instr | None
    rest: list[_Instr]


class Program:
    """One kernel call of one actor, compiled into one action per blocking point.

    ``pre`` is the call's precondition (checked at its first step); the
    importer or exporter must also be idle (not inside another call).
    ``committed``: the actor is already bound to run the call when ``pre``
    holds (it cannot choose to do something else), so even its first
    blocking point is a wait in the wait-for graph.
    """

    def __init__(self, cx: BuildContext, name: str, actor: str, *, pre: object = True, kernel: str = "",
                 call: str = "", meaning: str = "", rule: str = "", role: str = "", buffer: int | None = None,
                 committed: bool = False, base_holds: tuple[str, ...] = (), acquire_ctx: str = ""):
        self.cx = cx
        self.name = name
        self.actor = actor
        self.i = Param("i", cx.I) if actor in ("importers", "hardware_i") else None
        self.pre = lift(pre)
        self.meta = {"kernel": kernel, "meaning": meaning, "rule": rule}
        self.call = call
        self.role = role or name
        self.buffer = buffer
        self.committed = committed
        self.base_holds = base_holds
        self.acquire_ctx = acquire_ctx  # a ww acquire context the call opens first and holds to its end
        self.instrs: list[_Instr] = []
        self.finals: list[Effect] = []
        self.segments: list[_Segment] = []
        self.labels: list[str] = []
        cx.programs.append(self)

    # ---- who the actor is, as a lock holder value ------------------------
    @property
    def me(self) -> object:
        if self.actor == "importers":
            return self.i
        return {"exporter": EXP, "signaller": SIG}.get(self.actor, EXP)

    def holds_lock(self, lk: LockRes) -> Expr:
        return lk.holder == self.me

    # ---- instructions -------------------------------------------------
    def lock(self, lk: LockRes, text: str = "") -> Program:
        self.instrs.append(_Instr("lock", lock=lk, text=text or f"lock {lk.name}"))
        return self

    def unlock(self, lk: LockRes, text: str = "") -> Program:
        self.instrs.append(_Instr("unlock", lock=lk, text=text or f"unlock {lk.name}"))
        return self

    def wait(self, fences: FenceSet, idle: Expr, text: str) -> Program:
        """Block until ``idle`` (the fences this call waits for are signaled)."""
        self.instrs.append(_Instr("wait", fences=fences, cond=idle, text=text))
        return self

    def block_until(self, cond: object, text: str) -> Program:
        """A blocking point that waits for other actors' progress (not a lock or a fence: no wait-for edge)."""
        self.instrs.append(_Instr("wait", cond=lift(cond), text=text))
        return self

    def require(self, cond: object) -> Program:
        """A non-blocking condition of the current step (a check the call makes)."""
        self.instrs.append(_Instr("require", cond=lift(cond)))
        return self

    def do(self, *effects: Effect) -> Program:
        self.instrs.append(_Instr("do", effects=tuple(effects)))
        return self

    def alloc(self, gfp: str | None, text: str = "") -> Program:
        """A memory allocation: GFP_KERNEL may enter fs reclaim, GFP_NOFS/NOIO reclaim without the
        filesystem (lockdep: the mmu-notifier map only), GFP_ATOMIC no reclaim at all."""
        maps = reclaim_maps(gfp)
        if maps:
            self.instrs.append(_Instr("alloc", text=text or f"kmalloc({gfp})", maps=maps))
        return self

    def fault(self, text: str = "copy_from_user()") -> Program:
        self.instrs.append(_Instr("fault", text=text))
        return self

    def abort_if(self, cond: object, *effects: Effect, text: str = "", needs_block: bool = True) -> Program:
        """An alternative at the current step: when ``cond`` holds, undo and leave the call (an error return).

        With ``needs_block`` the alternative also needs the step's lock free
        (a check made after taking it); without, it replaces the blocking
        (ww_mutex -EDEADLK instead of waiting), so the step is not blocked
        while ``cond`` holds.
        """
        self.instrs.append(_Instr("abort", cond=lift(cond), effects=tuple(effects), text=text,
                                  lock=None if needs_block else _NO_BLOCK))
        return self

    def final(self, *effects: Effect) -> Program:
        """Effects of the call's last step, whatever blocking points come after this instruction.

        A counter and the state it counts change together (a pin and the
        mapping it belongs to), so no intermediate state shows one without the other.
        """
        self.finals.extend(effects)
        return self

    def tag(self, name: str) -> Program:
        self.instrs.append(_Instr("tag", text=name))
        return self

    # ---- compilation ------------------------------------------------------
    def split(self) -> None:
        segs: list[_Segment] = [_Segment(None, [])]
        for ins in self.instrs:
            cur = segs[-1]
            if ins.blocking:
                only_checks = all(x.op in ("require", "tag") for x in cur.rest)
                if cur.block is None and only_checks:
                    cur.block = ins  # a leading check joins the first blocking point
                else:
                    segs.append(_Segment(ins, []))
            else:
                cur.rest.append(ins)
        self.segments = segs
        self.labels = [f"{self.name}@{k + 1}" for k in range(1, len(segs))]

    def emit(self) -> None:
        cx, m = self.cx, self.cx.m
        pc = cx.pc_of(self.actor, self.i)
        held: list[LockRes] = []
        n = len(self.segments)
        for k, seg in enumerate(self.segments):
            if k == 0:
                ready = [cx.ready] if cx.ready is not None and self.actor == "exporter" else []
                at = conj(self.pre, *ready, *([pc == IDLE] if pc is not None else []))
            else:
                assert pc is not None
                at = pc == self.labels[k - 1]
            ctx = (self.acquire_ctx,) if self.acquire_ctx and k > 0 else ()
            holds = self.base_holds + ctx + tuple(lk.name for lk in held)
            guard_parts: list[Expr] = [at]
            acquires: list[str] = [self.acquire_ctx] if self.acquire_ctx and k == 0 else []
            effects: list[Effect] = []
            texts: list[str] = []
            tags: set[str] = set()
            aborts: list[_Instr] = []
            waits = None
            if seg.block is not None:
                b = seg.block
                texts.append(b.text)
                if b.op == "lock":
                    lk = b.lock
                    assert lk is not None
                    guard_parts.append(lk.holder == FREE)
                    effects.append(assign(lk.holder, self.me))  # type: ignore[arg-type]
                    acquires.append(lk.name)
                    held.append(lk)
                    dies = [~x.cond for x in seg.rest if x.op == "abort" and x.lock is _NO_BLOCK]  # type: ignore
                    waits = Waits(lk.decl, conj(at, *dies))
                else:
                    assert b.cond is not None
                    guard_parts.append(b.cond)
                    if b.fences is not None:  # a fence wait: lockdep's might_wait (dma_fence_map, v5.9+)
                        if self.cx.info.facts.get("fence_annotations", True):
                            acquires.append("dma_fence_map")
                        waits = Waits(b.fences, at)
            acquired_here = list(held)
            for ins in seg.rest:
                if ins.op == "require":
                    guard_parts.append(ins.cond)  # type: ignore[arg-type]
                elif ins.op == "do":
                    effects.extend(ins.effects)
                elif ins.op == "alloc":
                    acquires.extend(ins.maps)
                    texts.append(ins.text)
                elif ins.op == "fault":
                    acquires.append("mmap_lock")
                    texts.append(ins.text)
                elif ins.op == "unlock":
                    lk = ins.lock
                    assert lk is not None
                    if lk not in held:
                        raise ModelError(f"{self.name}: unlock of {lk.name}, which the call does not hold")
                    held.remove(lk)
                    effects.append(assign(lk.holder, FREE))
                    effects.extend(lk.on_release)
                    texts.append(ins.text)
                elif ins.op == "abort":
                    aborts.append(ins)
                elif ins.op == "tag":
                    if ins.text == "add_fence" and "reserve" in tags:
                        tags.add("add_fence_reserved")  # reserved in the same step, so in the same lock hold
                    tags.add(ins.text)
            last = k == n - 1
            if last:
                effects.extend(self.finals)
                for lk in reversed(held):  # a call leaves every lock it took
                    effects.append(assign(lk.holder, FREE))
                    effects.extend(lk.on_release)
                held = []
            if pc is not None and n > 1:
                effects.append(assign(pc, IDLE if last else self.labels[k]))
            name = self.name if k == 0 else f"{self.name}_{k + 1}"
            committed = k > 0 or self.committed
            no_abort = [~a.cond for a in aborts]  # type: ignore[operator]
            act = m.action(name, conj(*guard_parts, *no_abort), effects, params=(self.i,) if self.i is not None else (),
                           actor=self.actor, call=self._call(texts), acquires=tuple(acquires), holds=holds,
                           waits=waits if committed else None, **self.meta)
            cx.info.steps.append(StepInfo(act, at if committed else act.guard, self.role, self.buffer,
                                          frozenset(tags | ({"done"} if last else set())), self.i))
            if k > 0:
                cx.info.continuations.add(name)
                free = ([seg.block.lock.holder == FREE] if seg.block is not None and seg.block.op == "lock"  # type: ignore
                        else [seg.block.cond] if seg.block is not None and seg.block.cond is not None else [])
                cx.info.branches.setdefault((self.actor, self.labels[k - 1]), []).append((act, conj(at, *free)))
            for j, ab in enumerate(aborts):
                undo: list[Effect] = list(ab.effects)
                with_block = ab.lock is not _NO_BLOCK
                for lk in reversed(acquired_here if with_block else acquired_here[:-1] if seg.block is not None
                                   and seg.block.op == "lock" else acquired_here):
                    undo.append(assign(lk.holder, FREE))
                    undo.extend(lk.on_release)
                if pc is not None and n > 1:
                    undo.append(assign(pc, IDLE))
                aname = f"{name}_fail" if len(aborts) == 1 else f"{name}_fail{j + 1}"
                ab_guard = conj(*guard_parts, ab.cond) if with_block else conj(at, ab.cond)
                abort_act = m.action(aname, ab_guard, undo, params=(self.i,) if self.i is not None else (),
                                     actor=self.actor, call=self._call(texts[:1] + [ab.text or "error return"]),
                                     acquires=tuple(acquires[:1]) if with_block else (), holds=holds, **self.meta)
                cx.info.steps.append(StepInfo(abort_act, abort_act.guard if not committed else at, self.role,
                                              self.buffer, frozenset({"abort"}), self.i))
                if k > 0:
                    cx.info.continuations.add(aname)
                    cx.info.branches.setdefault((self.actor, self.labels[k - 1]), []).append((abort_act, None))

    def _call(self, texts: list[str]) -> str:
        head = self.call or self.meta["kernel"] or self.name
        inner = "; ".join(t for t in texts if t)
        return f"{head}: {inner}" if inner else head


def finalize(cx: BuildContext) -> None:
    """Declare the program counters, then emit every registered program's actions."""
    for p in cx.programs:
        p.split()
    imp = [lab for p in cx.programs if p.actor == "importers" for lab in p.labels] + cx.imp_pc_labels
    exp = [lab for p in cx.programs if p.actor == "exporter" for lab in p.labels] + cx.exp_pc_labels
    if imp:
        cx.pc = cx.m.array("pc", cx.I, Enum("pc", IDLE, *imp), IDLE, kernel="importer thread",
                               meaning="where importer i is inside a multi-step kernel call", rule="LOCK-1")
    if exp:
        cx.exp_pc = cx.m.var("exp_pc", Enum("exp_pc", IDLE, *exp), IDLE, kernel="exporter thread",
                                 meaning="where the exporter is inside a multi-step operation", rule="MIG-3")
    for p in cx.programs:
        p.emit()
    for fn in cx.late:
        fn()
