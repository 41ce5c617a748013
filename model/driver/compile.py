"""Compile a driver program into an ordinary model of the modeling language.

Each thread gets a program counter; each call of its body (``model.driver.code``)
is one action guarded by the counter, so threads interleave between calls
and nowhere else. The bodies run twice or more: a first pass discovers what
later threads add (fence callbacks, which thread allocates what, which fences
reach which resv, which locks are taken in IRQ context), and the final pass
builds the model with all of it known, so a signal compiled before the
callback was registered still runs that callback.

The model carries everything the engines read (variables, actions with
their lock metadata, lock and fence declarations, valid end states); the
rule checks each call registered are kept in ``DriverInfo`` for
``properties.kernel_objects``.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, field

from dmabuf_check.model.driver.code import DONE, LOOP_SCOPE, Code, Ins
from dmabuf_check.model.driver.objects import (
    ATOMIC_CONTEXTS,
    DMA_DIRECTIONS,
    FREED,
    GRACE,
    LIFE,
    LIVE,
    UNBORN,
    Attachment,
    Callback,
    Fence,
    KObject,
    Lock,
    Resv,
    RwSem,
    Slot,
    SpinLock,
    ident,
)
from dmabuf_check.model.expr import Expr, conj, disj, ite, lift
from dmabuf_check.model.lang import Model, Waits, assign
from dmabuf_check.model.lockdep_names import work_map
from dmabuf_check.model.profiles import profile
from dmabuf_check.model.types import BOOL, Enum, ModelError, Range

MAX_PASSES = 5
_HERE = os.path.dirname(os.path.abspath(__file__))
_STDLIB = os.path.dirname(os.path.abspath(os.__file__))


def _blame(e: Exception) -> str:
    """Where a driver body's exception comes from: the author's line, and the call it was making there (an
    exception raised inside the library or the standard library while binding that call's arguments)."""
    where, call = "", ""
    tb = e.__traceback__
    while tb is not None:
        path = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if os.path.dirname(path) == _HERE:
            fn = tb.tb_frame.f_locals.get("fn") if tb.tb_frame.f_code.co_name == "call" else None
            if where and not call:
                call = getattr(fn, "__name__", "") or tb.tb_frame.f_code.co_name
        elif not path.startswith(_STDLIB + os.sep):
            where, call = f" at {_short(path)}:{tb.tb_lineno}", ""
        tb = tb.tb_next
    hint = ""
    if isinstance(e, TypeError) and "positional" in str(e):
        hint = " (a call's text goes as text=...)"
    elif isinstance(e, TypeError) and "multiple values for argument 'text'" in str(e):
        hint = " (one argument too many: a slot or pointer already names its object, so the next one is the text)"
    if call and not call.startswith("_"):
        return f"k.{call}(){where}: {type(e).__name__}: {e}{hint}"
    return f"its body raised {type(e).__name__}{where}: {e}{hint}"


@dataclass
class Plan:
    """What one pass learned about the driver, for the next."""

    callbacks: dict[tuple[str, str], object] = field(default_factory=dict)  # (fence, cb) -> body
    allocators: dict[str, set[str]] = field(default_factory=dict)  # object -> threads that allocate it
    resv_fences: dict[str, list[str]] = field(default_factory=dict)
    resv_usage: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (resv, fence) -> usages added with
    counters: set[tuple[str, str]] = field(default_factory=set)  # (irqoff|rcu, thread)
    lock_ctx: dict[str, set[str]] = field(default_factory=dict)  # lock -> contexts it is taken in
    attachers: dict[str, set[str]] = field(default_factory=dict)  # attachment -> owners that attach it
    ww_threads: set[str] = field(default_factory=set)  # threads with a ww acquire context
    pinned: set[str] = field(default_factory=set)  # attachments some call pins (detach checks their pin count)
    readers: dict[str, set[str]] = field(default_factory=dict)  # rwsem -> threads that take it for read
    sleepers: dict[str, set[str]] = field(default_factory=dict)  # wait queue -> threads that wait_event on it
    covered: set[tuple[str, str]] = field(default_factory=set)  # (attachment, fence) a device access names
    err_ptrs: set[str] = field(default_factory=set)  # pointers some call stores an ERR_PTR in
    polled: set[str] = field(default_factory=set)  # sync_files some thread polls (their release removes the cb)
    rcu: bool = False  # the driver uses RCU (read-side sections or kfree_rcu): frees wait for grace periods
    grace: bool = False  # some call can leave an object RCU-freed (kfree_rcu, a fence's last put)
    ww_done: set[str] = field(default_factory=set)  # threads that call ww_acquire_done()

    def key(self) -> tuple:
        return (tuple(sorted(self.callbacks)), tuple(sorted((k, tuple(sorted(v))) for k, v in self.allocators.items())),
                tuple(sorted((k, tuple(v)) for k, v in self.resv_fences.items())),
                tuple(sorted((k, tuple(sorted(v))) for k, v in self.resv_usage.items())), tuple(sorted(self.counters)),
                tuple(sorted((k, tuple(sorted(v))) for k, v in self.lock_ctx.items())),
                tuple(sorted((k, tuple(sorted(v))) for k, v in self.attachers.items())), tuple(sorted(self.ww_threads)),
                tuple(sorted(self.pinned)), tuple(sorted((k, tuple(sorted(v))) for k, v in self.sleepers.items())),
                tuple(sorted((k, tuple(sorted(v))) for k, v in self.readers.items())), tuple(sorted(self.covered)),
                tuple(sorted(self.err_ptrs)), tuple(sorted(self.polled)),
                self.rcu, self.grace, tuple(sorted(self.ww_done)))


@dataclass
class DriverInfo:
    """What the properties of a compiled driver need: every rule check, by property id."""

    checks: dict[str, list[tuple[Expr, str]]] = field(default_factory=dict)
    # actions a correct program may never reach, so vacuity does not count them: a release where no put is
    # the last, a shrinker run inside an allocation (a trylock of the allocator's own lock never succeeds)
    release_steps: set[str] = field(default_factory=set)
    # calls on a local variable (Value): per call, the action that branches on the variable and, per object
    # it may hold, (the branch's first action, all its actions); a branch for an object the variable never
    # holds there is no dead code
    branches: list[tuple[str, list[tuple[str, set[str]]]]] = field(default_factory=list)
    imbalances: list[str] = field(default_factory=list)  # joins where paths hold different locks
    where: dict[str, tuple[str, int]] = field(default_factory=dict)  # action -> (file, line) of its call
    check_where: dict[int, tuple[str, int]] = field(default_factory=dict)  # id(bad condition) -> the call's line
    core_used: set[str] = field(default_factory=set)  # replaced core calls this driver makes
    liveness: list[tuple[str, Expr, Expr]] = field(default_factory=list)  # (fence, pending, resolved)
    fair: tuple[str, ...] = ()  # actions under weak fairness: every kernel thread's (userspace may never act)

    def may_be_dead(self, vacuous: list[str]) -> set[str]:
        """Of the actions that never ran, those a correct program may never take: a release inlined at a put
        that is not the last, a shrinker run inside an allocation, the branch of a call on a variable for an
        object the variable never holds (as long as the call itself runs)."""
        never = set(vacuous)
        out = set(self.release_steps)
        for dispatch, group in self.branches:
            if dispatch not in never:  # the call ran: on whatever its variable held
                for entry, acts in group:
                    if entry in never:
                        out |= acts
        return out

    def add(self, rule: str, bad: Expr, why: str, where: tuple[str, int] | None = None) -> None:
        self.checks.setdefault(rule, []).append((bad, why))
        if where is not None:
            self.check_where[id(bad)] = where


_INFO: weakref.WeakKeyDictionary[Model, DriverInfo] = weakref.WeakKeyDictionary()


def info_of(model: Model) -> DriverInfo:
    if model not in _INFO:
        raise ModelError(f"model {model.name} was not compiled from a driver program")
    return _INFO[model]


class DriverBuild:
    """One pass: the model under construction and the objects bound to its variables."""

    def __init__(self, driver, kernel: str, plan: Plan):
        self.d = driver
        self.plan = plan
        self.prof = profile(kernel)
        self.fence_annotations = self.prof.fence_annotations
        self.next_plan = Plan()
        m = self.m = Model(driver.name, driver.title or driver.name, params={"kernel": self.prof.name})
        self.threads = [t.name for t in driver.threads]
        self.objects: list[KObject] = list(driver.objects)
        self.fences = [o for o in self.objects if isinstance(o, Fence)]
        self.locks: list[Lock] = list(driver.locks)
        self.slots: list[Slot] = list(driver.slots)
        self.attachments: list[Attachment] = list(driver.attachments)
        self.resvs: list[Resv] = list(driver.resvs)
        self.allocators = plan.allocators
        self.held_vars: dict[tuple[str, str], Expr] = {}
        self.irqoff: dict[str, Expr] = {}
        self.rcu: dict[str, Expr] = {}
        self.irq_used: dict[str, dict[str, tuple[Expr, Expr]]] = {}  # lock -> irq|softirq -> (IN-, -ON)
        self.bhoff: dict[str, Expr] = {}
        self._fencesets: dict[str, object] = {}
        self._lazy_vars: dict[str, Expr] = {}  # state declared the first time a call needs it
        self.device_uses: dict[tuple[str, str], tuple[KObject, Fence, Expr]] = {}  # (object, fence) -> flag
        self.core_used: set[str] = set()  # core calls a replacement (Driver.core) stood in for
        self.ww_threads = sorted(plan.ww_threads)
        self._ww: dict[str, tuple[Expr, Expr]] = {}
        self._ww_clock: Expr | None = None
        for t in self.ww_threads:  # every context's stamp exists before any lock compares with it
            self.ww(t)
        self._signal_actions: dict[str, list[tuple[str, str]]] = {}
        self._can_signal: dict[str, dict[str, Expr]] = {}  # fence -> thread -> "its code can still signal it"
        self._worksets: dict[str, object] = {}  # work item -> its waitable (flush_work waits on it)
        self._semsets: dict[str, object] = {}  # "rwsem (read|write)" -> what a blocked down_* waits for
        # a file's deferred ____fput runs as task_work, which has no lockdep map (no flush waits on it)
        self._task_work = {o.deferred for o in self.objects if o.deferred}
        self._work_ends: dict[str, str] = {}  # work item -> the action that ends its run
        holder_t = Enum("holder", "FREE", *self.threads)
        for r in self.resvs:
            if r.lock not in self.locks:
                self.locks.append(r.lock)
        for f in self.fences:
            if f.lock is None:
                f.lock = SpinLock(f"{f.name}->lock", kernel="dma_fence.lock")
            if f.lock not in self.locks:
                self.locks.append(f.lock)
        for lk in self.locks:
            lk.holder = m.var(f"holder_{ident(lk.name)}", holder_t, "FREE", kernel=lk.kernel or lk.name,
                              meaning=f"who holds {lk.name}", rule="LOCKDEP")
            lk.decl = m.lock(lk.name, lk.holder, "FREE", {t: t for t in self.threads}, kernel=lk.kernel or lk.name,
                             lock_class=lk.cls)
            if isinstance(lk, RwSem):
                lk.waiter = m.var(f"wwait_{ident(lk.name)}", holder_t, "FREE", kernel=f"{lk.name} wait_list",
                                  meaning=f"the writer queued on {lk.name}", rule="LOCKDEP")
        installed = {o.name: sum(1 for s in self.slots if s.obj is o and s.installed and s.holds_ref) for o in self.objects}
        # references held at the start by others than the declared owners: a resv's fences
        self._init_refs: dict[tuple[str, str], int] = {}
        for r in self.resvs:
            for f, _usage in r.initial:
                self._init_refs[(r.owner, f.name)] = 1
        for o in self.objects:
            init_count = len(o.owners) + installed[o.name] + sum(
                n for (_h, name), n in self._init_refs.items() if name == o.name)
            if init_count > o.max_refs:
                raise ModelError(f"{o.name}: {init_count} initial references, more than max_refs={o.max_refs}")
            live = o.live or init_count > 0
            if o.live and o.refcounted and init_count == 0:
                raise ModelError(f"{o.name} is alive at the start but nobody holds a reference to it: name who does "
                                 "(owners=(...), a pointer's init=, an installed slot) or let a thread create it "
                                 "(live=False, created=False)")
            o.life = m.var(f"life_{ident(o.name)}", Enum("life", *LIFE), LIVE if live else UNBORN,
                           kernel=o.kernel or o.name, meaning=f"lifetime of {o.name}", rule="KOBJ-1")
            o.count = (m.var(f"refs_{ident(o.name)}", Range(0, o.max_refs), init_count, kernel=f"{o.name} refcount",
                             meaning=f"references to {o.name}", rule="KREF-1") if o.refcounted else lift(1))
            for owner in dict.fromkeys(o.owners):
                self.held(owner, o)
            for (holder, name) in self._init_refs:
                if name == o.name:
                    self.held(holder, o)
            if isinstance(o, Fence):
                o.signaled_v = m.var(f"signaled_{ident(o.name)}", BOOL, int(o.signaled_at_start),
                                     kernel="DMA_FENCE_FLAG_SIGNALED_BIT",
                                     meaning=f"{o.name} has signaled", rule="FENCE-1")
                o.error_v = m.var(f"error_{ident(o.name)}", BOOL, 0, kernel="dma_fence.error",
                                  meaning=f"an error is set on {o.name}", rule="FENCE-2")
                o.callbacks = []
                if o.enable_signaling is not None:
                    o.enabled_v = m.var(f"swsig_{ident(o.name)}", BOOL, 0, kernel="DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT",
                                        meaning=f"signaling is enabled on {o.name}", rule="FENCE-8")
        for s in self.slots:
            s.v = m.var(f"slot_{ident(s.name)}", BOOL, int(s.installed), kernel=s.kind,
                        meaning=f"{s.name} holds a reference to {s.obj.name}", rule="KREF-5")
        for r in self.resvs:
            r.reserved = m.var(f"reserved_{ident(r.name)}", BOOL, 0, kernel="dma_resv_reserve_fences",
                               meaning=f"a fence slot is reserved on {r.name}", rule="RESV-A1")
            r.fences = {}
            for f, usage in r.initial:  # in the resv from the start (their flags start set)
                self._resv_flag(r, f.name, init=1)
                self.resv_fence(r, f, usage)
            for fname in plan.resv_fences.get(r.name, []):
                self._resv_flag(r, fname)
        for dm in driver.dma_mappings:
            dm.v = m.var(f"dma_{ident(dm.name)}", Enum(f"dma_{ident(dm.name)}", "UNMAPPED", *DMA_DIRECTIONS),
                         "UNMAPPED", kernel=f"{dm.name} (DMA API)", meaning=f"{dm.name}: unmapped or its direction",
                         rule="DMA-1")
        for ptr in driver.pointers:
            ptr.v = m.var(f"ptr_{ident(ptr.name)}", Enum(f"ptr_{ident(ptr.name)}", "NULL", *[t.name for t in ptr.targets],
                                                              *(("ERR_PTR",) if ptr.name in self.plan.err_ptrs else ())),
                          "NULL" if ptr.init is None else ptr.init.name, kernel=ptr.name,
                          meaning=f"where {ptr.name} points", rule="KREF-5")
        for fl in driver.fields:
            fl.v = m.var(f"field_{ident(fl.name)}", BOOL if fl.max_value == 1 else Range(0, fl.max_value), fl.init,
                         kernel=fl.kernel or fl.name, meaning=f"driver state {fl.name}", rule="")
        for c in driver.completions:
            c.done = m.var(f"done_{ident(c.name)}", Range(0, 3), 0, kernel="struct completion.done",
                           meaning=f"{c.name}: completions not yet consumed (3: complete_all)", rule="")
        for a in self.attachments:
            a.v = m.var(f"att_{ident(a.name)}", Enum("att", "NONE", "ATTACHED", "MAPPED", "STALE"), a.state,
                        kernel="struct dma_buf_attachment", meaning=f"{a.name}: attached, mapped", rule="ATT-7")
        by_name = {f.name: f for f in self.fences}
        for (fname, cbname), body in plan.callbacks.items():
            if fname in by_name:
                self.callback(by_name[fname], cbname, body)
        for kind, t in sorted(plan.counters):
            self.counter({"irqoff": self.irqoff, "bhoff": self.bhoff}.get(kind, self.rcu), t, kind)
        for lname, ctxs in plan.lock_ctx.items():  # lockdep's usage bits, for locks used in mixed contexts
            usage = {}
            for irq_ctx, tag in (("irq", "HARDIRQ"), ("softirq", "SOFTIRQ")):
                others = ctxs - {irq_ctx} - ({"irq"} if irq_ctx == "softirq" else set())
                if irq_ctx in ctxs and others:
                    usage[irq_ctx] = (
                        m.var(f"in_{irq_ctx}_{ident(lname)}", BOOL, 0, kernel="lockdep usage",
                              meaning=f"{lname} was taken in {tag} context (IN-{tag})", rule="LOCKDEP-4"),
                        m.var(f"{irq_ctx}_on_{ident(lname)}", BOOL, 0, kernel="lockdep usage",
                              meaning=f"{lname} was taken or held with {tag.lower()}s enabled ({tag}-ON)",
                              rule="LOCKDEP-4"))
            if usage:
                self.irq_used[lname] = usage
        for lk in self.locks:  # what the lock report needs to print lockdep's usage bits
            decl = lk.decl
            decl.sleeps = lk.sleeps  # type: ignore[attr-defined]
            decl.usage = {("HARDIRQ" if k == "irq" else "SOFTIRQ"): (i.decl.name, o.decl.name)  # type: ignore
                          for k, (i, o) in self.irq_used.get(lk.name, {}).items()}

    # ---- lazily declared state -------------------------------------------------
    def held(self, owner: str, obj: KObject) -> Expr:
        key = (owner, obj.name)
        if key not in self.held_vars:
            init = sum(1 for o in obj.owners if o == owner) + self._init_refs.get(key, 0)
            top = obj.max_refs if obj.refcounted else 1
            self.held_vars[key] = self.m.var(f"ref_{ident(owner)}_{ident(obj.name)}", Range(0, top), init,
                                             kernel=f"{owner}'s references to {obj.name}",
                                             meaning=f"references to {obj.name} that {owner} holds", rule="KREF-3")
        return self.held_vars[key]

    def _lazy(self, name: str, typ, init, **meta: str) -> Expr:
        """A variable declared the first time a call needs it; one per name."""
        if name not in self._lazy_vars:
            self._lazy_vars[name] = self.m.var(name, typ, init, **meta)
        return self._lazy_vars[name]

    def work_flag(self, work: str) -> Expr:
        if work not in {t.name for t in self.d.threads}:
            raise ModelError(f"queue_work({work}): no work item {work!r} (declare it with @driver.work)")
        return self._lazy(f"queued_{ident(work)}", BOOL, 0, kernel="work_struct pending", meaning=f"{work} is queued",
                          rule="")

    def uses_grace(self) -> None:
        self.next_plan.rcu = True

    def frees_after_grace(self) -> None:
        self.next_plan.grace = True

    def rcu_frees(self, obj: KObject) -> bool:
        """A fence's memory goes through kfree_rcu (dma_fence_free), which matters once the driver has RCU readers."""
        return isinstance(obj, Fence) and self.plan.rcu

    def work_running(self, name: str) -> Expr:
        """Whether the work item is inside its body (set when it starts, cleared when it returns)."""
        self.work_flag(name)
        return self._lazy(f"running_{ident(name)}", BOOL, 0, kernel="work running", meaning=f"{name} is running",
                          rule="")

    def cpu_state(self, owner: str, buf, kind: str) -> Expr:
        """An owner's CPU access to a buffer: nesting of begin/end_cpu_access, or of vmap/vunmap."""
        return self._lazy(f"{kind}_{ident(owner)}_{ident(buf.name)}", Range(0, 2), 0,
                          kernel="dma_buf_begin_cpu_access" if kind == "cpu" else "dma_buf_vmap",
                          meaning=f"{owner}'s {'CPU access brackets' if kind == 'cpu' else 'vmaps'} of {buf.name}",
                          rule="CPU-1" if kind == "cpu" else "CPU-7")

    def reader(self, sem: RwSem, thread: str) -> Expr:
        """Whether ``thread`` holds ``sem`` for read."""
        self.next_plan.readers.setdefault(sem.name, set()).add(thread)
        return self._lazy(f"rd_{ident(sem.name)}_{ident(thread)}", BOOL, 0, kernel=f"{sem.name} reader",
                          meaning=f"{thread} holds {sem.name} for read", rule="LOCKDEP")

    def readers(self, sem: RwSem) -> dict[str, Expr]:
        return {t: self.reader(sem, t) for t in sorted(self.plan.readers.get(sem.name, ()))}

    def sem_waitable(self, sem: RwSem, write: bool):
        """What a blocked down_read (the writer holding or queued) or down_write (every reader, the writer)
        waits for, as a waitable of the wait-for graph: an edge to each of them."""
        key = f"{sem.name} ({'write' if write else 'read'})"
        if key not in self._semsets:
            rd = self.readers(sem)
            if write:  # the writer waits for every reader and a writer holding it
                holders = {t: (sem.holder == t) | (rd[t] == 1) if t in rd else sem.holder == t for t in self.threads}
            else:  # a reader waits for the writer holding it or queued for it
                holders = {t: (sem.holder == t) | (sem.waiter == t) for t in self.threads}
            busy = disj(sem.holder != "FREE", *([v == 1 for v in rd.values()] if write else [sem.waiter != "FREE"]))
            fs = self.m.fence_set(key, None, lambda _j: busy, signal="", kernel="rw_semaphore")
            fs.can_signal, fs.needs_all = holders, True
            self._semsets[key] = fs
        return self._semsets[key]

    def sleep_state(self, wq: str, thread: str) -> Expr:
        """A thread's place on a wait queue: 0 awake, 1 asleep on it, 2 woken (it rechecks its condition)."""
        self.next_plan.sleepers.setdefault(wq, set()).add(thread)
        return self._lazy(f"wq_{ident(wq)}_{ident(thread)}", Range(0, 2), 0, kernel="wait_queue_entry",
                          meaning=f"{thread} on {wq}: 0 awake, 1 asleep, 2 woken", rule="")

    def covered(self, att: Attachment, f: Fence) -> Expr:
        """Whether ``f`` was a pending fence of the buffer's resv when a move invalidated ``att``: the move
        waits for it, so its job may finish through the stale mapping (DYN-7)."""
        self.next_plan.covered.add((att.name, f.name))
        return self._lazy(f"covered_{ident(att.name)}_{ident(f.name)}", BOOL, 0, kernel="dma_resv fences at "
                          "move_notify", meaning=f"{f.name} was pending in {att.buf.name}'s resv when {att.name} "
                          "was invalidated", rule="DYN-7")

    def device_use(self, obj: KObject, f: Fence) -> Expr:
        """Whether a device job accesses ``obj`` until ``f`` signals (set where the job was started)."""
        key = (obj.name, f.name)
        if key not in self.device_uses:
            v = self._lazy(f"dma_{ident(obj.name)}_{ident(f.name)}", BOOL, 0, kernel="device DMA in flight",
                           meaning=f"a device job accesses {obj.name} until {f.name} signals", rule="MIG-6")
            self.device_uses[key] = (obj, f, v)
        return self.device_uses[key][2]

    def poll_enabled(self, sf: KObject) -> Expr:
        """The sync_file's POLL_ENABLED bit: its callback was armed by a poll."""
        return self._lazy(f"pollen_{ident(sf.name)}", BOOL, 0, kernel="sync_file->flags POLL_ENABLED",
                          meaning=f"a poll armed {sf.name}'s fence callback", rule="SYNC-10")

    def pin_count(self, att: Attachment) -> Expr:
        self.next_plan.pinned.add(att.name)
        return self._lazy(f"pins_{ident(att.name)}", Range(0, 2), 0, kernel="dma_buf pin count",
                          meaning=f"pins of {att.name}", rule="DYN-4")

    # ---- ww acquire contexts (wait-die stamps) -------------------------------------
    def ww_top(self) -> int:
        return max(1, len(self.ww_threads))

    def ww_clock(self) -> Expr:
        if self._ww_clock is None:
            self._ww_clock = self.m.var("ww_stamp_clock", Range(0, self.ww_top()), 0, kernel="reservation_ww_class "
                                        "stamp", meaning="the last ticket handed out by ww_acquire_init", rule="RESV-W1")
        return self._ww_clock

    def ww(self, thread: str) -> tuple[Expr, Expr]:
        """The thread's context: its stamp (0: none; smaller: older) and how many ww locks it holds."""
        self.next_plan.ww_threads.add(thread)
        if thread not in self._ww:
            top = self.ww_top()
            self._ww[thread] = (
                self.m.var(f"ww_stamp_{ident(thread)}", Range(0, top), 0, kernel="ww_acquire_ctx.stamp",
                           meaning=f"{thread}'s acquire context (0: none)", rule="RESV-W1"),
                self.m.var(f"ww_acquired_{ident(thread)}", Range(0, 3), 0, kernel="ww_acquire_ctx.acquired",
                           meaning=f"ww locks {thread} holds in its context", rule="RESV-W2"))
        return self._ww[thread]

    def ww_done(self, thread: str) -> Expr | None:
        """Whether the thread's acquire context is marked done (ww_acquire_done); None where it never is."""
        if thread not in self.plan.ww_done:
            return None
        return self._lazy(f"ww_done_{ident(thread)}", BOOL, 0, kernel="ww_acquire_ctx.done_acquire",
                          meaning=f"{thread}'s acquire phase is over (ww_acquire_done)", rule="RESV-W1")

    def exec_prelocked(self, thread: str) -> Expr:
        """drm_exec's prelocked object of ``thread``'s transaction (locked by lock_slow after a contention)."""
        return self._lazy(f"exec_prelocked_{ident(thread)}", Enum("prelocked", "NONE", *[r.name for r in self.resvs]),
                          "NONE", kernel="drm_exec.prelocked", meaning=f"{thread}'s drm_exec prelocked object",
                          rule="RESV-W2")

    def ww_held(self, r) -> Expr:
        return self._lazy(f"ww_ctx_{ident(r.name)}", BOOL, 0, kernel="ww_mutex.ctx",
                          meaning=f"{r.name} is held with an acquire context", rule="RESV-W1")

    def ww_dies(self, thread: str, r) -> Expr:
        """Wait-die: ``thread`` gets -EDEADLK on ``r`` when an older context holds it and it holds ww locks."""
        stamp, acquired = self.ww(thread)
        older = [(r.lock.holder == u) & (self.ww(u)[0] > 0) & (self.ww(u)[0] < stamp) & (self.ww_held(r) == 1)
                 for u in self.ww_threads if u != thread]
        return (acquired > 0) & disj(*older) if older else lift(False)

    def counter(self, table: dict[str, Expr], thread: str, kind: str) -> Expr:
        if thread not in table:
            table[thread] = self.m.var(f"{kind}_{ident(thread)}", Range(0, 3), 0, kernel=kind,
                                       meaning=f"{thread}: nesting of {kind} sections", rule="CTX-1")
        self.next_plan.counters.add((kind, thread))
        return table[thread]

    def callback(self, f: Fence, name: str, body) -> Callback:
        self.next_plan.callbacks[(f.name, name)] = body
        for cb in f.callbacks:
            if cb.name == name:
                return cb
        cb = Callback(name, f, body)
        cb.armed = self.m.var(f"cb_{ident(name)}", BOOL, 0, kernel="struct dma_fence_cb",
                              meaning=f"{name} is registered on {f.name}", rule="FENCE-6")
        f.callbacks.append(cb)
        return cb

    def _resv_flag(self, r: Resv, fname: str, init: int = 0) -> Expr:
        if fname not in r.fences:
            r.fences[fname] = self.m.var(f"inresv_{ident(r.name)}_{ident(fname)}", BOOL, init, kernel="dma_resv fences",
                                         meaning=f"{fname} is in {r.name}", rule="RESV-A1")
        return r.fences[fname]

    def resv_fence(self, r: Resv, f: Fence, usage: str | None = None) -> Expr:
        if usage is not None:
            self.next_plan.resv_usage.setdefault((r.name, f.name), set()).add(usage)
        self.next_plan.resv_fences.setdefault(r.name, [])
        if f.name not in self.next_plan.resv_fences[r.name]:
            self.next_plan.resv_fences[r.name].append(f.name)
        return self._resv_flag(r, f.name)

    def _enabled(self, thread: str, context: str, kind: str) -> Expr:
        """Whether the thread runs with hard (``irq``) or soft (``softirq``) interrupts enabled."""
        hard = self.irqoff.get(thread)
        hard_on = lift(context != "irq") if hard is None else lift(context != "irq") & (hard == 0)
        if kind == "irq":
            return hard_on
        bh = self.bhoff.get(thread)
        soft_on = hard_on & lift(context == "process")
        return soft_on if bh is None else soft_on & (bh == 0)

    def note_acquire(self, code: Code, ins: Ins, lk: Lock, hard: bool, soft: bool) -> None:
        """lockdep's usage at an acquisition: taken in IRQ/softirq context, or with them enabled."""
        ctx = code.context if code.context in ATOMIC_CONTEXTS else "process"
        self.next_plan.lock_ctx.setdefault(lk.name, set()).add(ctx)
        for kind, tag in (("irq", "HARDIRQ"), ("softirq", "SOFTIRQ")):  # what lockdep's mark_usage() records
            if ctx == kind:
                ins.marks.append((lk.name, f"IN-{tag}-W", lift(True)))
            if not (hard or (soft and kind == "softirq")):  # an _irq/_bh acquisition turns them off first
                ins.marks.append((lk.name, f"{tag}-ON-W", self._enabled(code.me, ctx, kind)))

    def held_irq_on_marks(self, thread: str, exclude: Lock) -> list[tuple[str, str, Expr]]:
        """Interrupts come back on: lockdep marks every lock the thread still holds as used with them on
        (mark_held_locks)."""
        return [(lk.name, f"{tag}-ON-W", lk.holder == thread) for lk in self.locks if lk is not exclude
                for tag in ("HARDIRQ", "SOFTIRQ")]

    def usage_effects(self, marks: list[tuple[str, str, Expr]]) -> list:
        """The usage a step registers (its marks, read in the state it fires from), recorded in the state
        variables of the locks used in mixed contexts, which irq-inconsistent-lock reads."""
        out = []
        for lname, tag, when_ in marks:
            kind = "irq" if "HARDIRQ" in tag else "softirq"
            if kind not in self.irq_used.get(lname, {}):
                continue
            in_ctx, on = self.irq_used[lname][kind]
            out.append(assign(in_ctx, 1) if tag.startswith("IN-") else assign(on, ite(when_, 1, on)))
        return out

    # ---- the pass ----------------------------------------------------------------
    def run(self) -> tuple[Model, DriverInfo]:
        info = DriverInfo()
        codes: list[tuple[object, Code]] = []
        for t in self.d.threads:
            k = Code(self, t.name, t.context)
            try:
                t.body(k, *t.args)
            except ModelError:
                raise
            except RecursionError:
                raise ModelError(f"thread {t.name}: its body recurses without end (a callback that calls itself?)") \
                    from None
            except Exception as e:  # the driver author's own code: one line naming where, never a traceback
                raise ModelError(f"thread {t.name}: {_blame(e)}") from None
            if k._signalling:
                raise ModelError(f"thread {t.name}: dma_fence_begin_signalling() without dma_fence_end_signalling()")
            for ins in k.ins:  # who allocates what, and who attaches what (read by the next pass)
                if ins.allocates is not None:
                    self.next_plan.allocators.setdefault(ins.allocates.name, set()).add(t.name)
                if ins.attaches is not None:
                    self.next_plan.attachers.setdefault(ins.attaches.name, set()).add(ins.owner)
            codes.append((t, k))
        pcs = {}
        for t, k in codes:
            pcs[t.name] = self._emit(t, k, info)
        if self.plan.grace:
            self._grace_period()
            info.release_steps.add("rcu_grace_period")  # dead where no RCU-freed object's last put happens
        self._end_checks(info, pcs)
        info.core_used = set(self.core_used)
        return self.m, info

    def _emit(self, t, k: Code, info: DriverInfo) -> Expr:
        m, n = self.m, len(k.ins)
        pending_end = list(k._pending_labels)
        for lab in pending_end:
            k.labels[lab] = n
        k._pending_labels = []
        if k._pending_checks:
            raise ModelError(f"thread {t.name}: a check without a call after it (end the body with a call)")

        def resolve(label: str | None, seen: frozenset = frozenset()) -> int:
            if label == DONE:
                return n
            if label is None:
                raise ModelError(f"thread {t.name}: internal: no label")
            parts = label.split("/")
            while label not in k.labels and len(parts) > 1 and parts[-2].startswith(LOOP_SCOPE):
                parts = parts[:-2] + parts[-1:]  # a loop body shares its function's labels (a break)
                label = "/".join(parts)
            if label not in k.labels:
                base = label.rsplit("/", 1)[-1]
                if base == "$end":
                    return n
                raise ModelError(f"thread {t.name}: goto {base!r}, but no label {base!r} in its body")
            return thread_through(k.labels[label], seen)

        def thread_through(i: int, seen: frozenset = frozenset()) -> int:
            """Skip unconditional gotos that do nothing (no state read or written, no check)."""
            while i < n:
                ins = k.ins[i]
                if (ins.goto is None or ins.effects or ins.checks or ins.alts or ins.branch or ins.switch or ins.take
                        or ins.drop):
                    return i
                if i in seen:
                    raise ModelError(f"thread {t.name}: a goto loop that does nothing ({ins.text})")
                seen = seen | {i}
                i = resolve(ins.goto, seen)
            return n

        live = [i for i in range(n) if thread_through(i) == i]
        names = {i: f"L{i}" for i in live}
        start = thread_through(0)
        pc = m.var(f"pc_{ident(t.name)}", Enum(f"pc_{ident(t.name)}", *[names[i] for i in live], DONE),
                   names.get(start, DONE), kernel=t.kernel or f"{t.name} ({t.context})",
                   meaning=f"the next call of {t.name}", rule="")

        def at_value(i: int) -> str:
            return names[i] if i < n else DONE

        def succ_of(i: int) -> list[int]:
            ins = k.ins[i]
            if ins.goto is not None:
                return [resolve(ins.goto)]
            out = [thread_through(i + 1)]
            if ins.branch is not None:
                out.append(resolve(ins.branch[1]))
            out += [resolve(label) for _cond, label in ins.switch]
            return out

        # the locks some path may hold at each call (a join keeps the union): whether -EDEADLK is possible
        maysets: dict[int, frozenset[str]] = {start: frozenset()}
        work = [start] if start < n else []
        while work:
            i = work.pop()
            ins, held = k.ins[i], maysets[i]
            after = (held - ({ins.drop.name} if ins.drop is not None else set())) | (
                {ins.take.name} if ins.take is not None else set())
            for j, ls in [(j, after) for j in succ_of(i)] + [(resolve(a.goto), held) for a in ins.alts]:
                cur = maysets.get(j)
                if j < n and (cur is None or not ls <= cur):
                    maysets[j] = (cur or frozenset()) | ls
                    work.append(j)
        ww_names = {x.name for x in self.locks if x.cls == "reservation_ww_class_mutex"}

        def may_die(i: int) -> bool:
            return self._may_die(maysets.get(i, frozenset()) & ww_names)

        # static lockset per call (lockdep's held-lock stack; a join keeps what every path holds)
        locksets: dict[int, tuple[Lock, ...]] = {start: ()}
        work = [start] if start < n else []
        while work:
            i = work.pop()
            ins, held = k.ins[i], locksets[i]
            after = held
            if ins.take is not None:
                after = held + (ins.take,)
            if ins.drop is not None and ins.drop in after:
                idx = len(after) - 1 - after[::-1].index(ins.drop)
                after = after[:idx] + after[idx + 1:]
            nexts = [(j, after) for j in succ_of(i)] + [(resolve(a.goto), held) for a in ins.alts
                                                        if not (a.needs_ww and not may_die(i))]
            for j, ls in nexts:
                if j >= n:
                    continue
                if j in locksets:
                    if {x.name for x in locksets[j]} != {x.name for x in ls}:
                        # paths join holding different locks (sparse: "context imbalance"): lockdep's metadata
                        # keeps what every path holds; the dynamic checks see what each one really does
                        common = tuple(x for x in locksets[j] if x in ls)
                        info.imbalances.append(f"{t.name}: '{k.ins[j].text}' is reached holding different locks "
                                               "on different paths (sparse: context imbalance)")
                        if common != locksets[j]:
                            locksets[j] = common
                            work.append(j)
                    continue
                locksets[j] = ls
                work.append(j)

        in_reclaim = t.context == "reclaim"
        for i in live:
            if i not in locksets:
                continue  # unreachable code (after a return)
            ins = k.ins[i]
            at = pc == names[i]
            held = tuple(x.name for x in locksets[i])
            pseudo = ((work_map(t.name, t.name in self.d.timers),) if t.work and t.name not in self._task_work else ()) + (
                ("fs_reclaim",) if in_reclaim or ins.in_reclaim else ()) + (
                ("dma_fence_map",) if ins.in_signalling and self.fence_annotations and not ins.sig_begin else ())
            holds = pseudo + held
            if ins.goto is not None:
                nxt: Expr = lift(at_value(resolve(ins.goto)))
            elif ins.branch is not None:
                nxt = ite(ins.branch[0], at_value(resolve(ins.branch[1])), at_value(thread_through(i + 1)))
            elif ins.switch:
                nxt = lift(at_value(thread_through(i + 1)))
                for cond, label in reversed(ins.switch):
                    nxt = ite(cond, at_value(resolve(label)), nxt)
            else:
                nxt = lift(at_value(thread_through(i + 1)))
            effects = [assign(pc, nxt), *self.usage_effects(ins.marks), *ins.effects]
            name = f"{ident(t.name)}_{i}"
            waits = None
            if ins.waits_lock is not None:
                waits = Waits(ins.waits_lock.decl, at if ins.wait_when is None else at & ins.wait_when)
            elif any(a.suffix == "timeout" for a in ins.alts):
                waits = None  # a finite timeout ends the wait: no wait-for edge, no stuck state (lockdep still sees it)
            elif ins.waits_fence is not None and ins.waits_fence.name in self._fencesets:
                waits = Waits(self._fencesets[ins.waits_fence.name], at)
            elif ins.waits_work is not None:
                waits = Waits(self.work_waitable(ins.waits_work), at)
            elif ins.waits_sem is not None:
                waits = Waits(self.sem_waitable(*ins.waits_sem), at)
            act = m.action(name, at & ins.guard, effects, actor=t.name, kernel=ins.text, call=ins.text,
                           meaning=f"{t.name}: {ins.text}", acquires=ins.acquires, holds=holds, waits=waits,
                           marks=tuple((lk, tag, at & ins.guard & cond) for lk, tag, cond in ins.marks))
            if ins.in_release or ins.in_reclaim:
                info.release_steps.update([name] + [f"{name}_{a.suffix}" for a in ins.alts])
            if ins.signals is not None:
                self._signal_actions.setdefault(ins.signals.name, []).append((act.name, t.name))
            if ins.ends_work is not None:
                self._work_ends[ins.ends_work] = act.name
            loc = f" ({_short(ins.where[0])}:{ins.where[1]})" if ins.where else ""
            if ins.where:
                info.where[name] = ins.where
                for a in ins.alts:
                    info.where[f"{name}_{a.suffix}"] = ins.where
            for rule, bad, why in ins.checks:
                info.add(rule, at & bad, f"{t.name} at '{ins.text}'{loc}: {why}", ins.where)
            for a in ins.alts:
                if a.needs_ww and not may_die(i):
                    continue  # the first lock of a transaction never dies (it holds no other ww lock)
                m.action(f"{name}_{a.suffix}", at & a.cond, [assign(pc, at_value(resolve(a.goto))), *a.effects],
                         actor=t.name, kernel=a.text, call=a.text, meaning=f"{t.name}: {a.text}", holds=holds)
        self._signal_points(t, k, [i for i in live if i in locksets], succ_of, resolve, pc, names)
        for at, spans in k.dispatches:
            group = []
            for first, end in spans:
                steps = [i for i in range(first, end) if i in names and i in locksets]
                if not steps:
                    continue
                acts = {f"{ident(t.name)}_{i}" for i in steps}
                acts |= {f"{ident(t.name)}_{i}_{a.suffix}" for i in steps for a in k.ins[i].alts}
                group.append((f"{ident(t.name)}_{steps[0]}", acts))
            info.branches.append((f"{ident(t.name)}_{at}", group))
        for first, end in k.library_calls:  # a kernel call's own branches: excused once the call ran
            steps = [i for i in range(first, end) if i in names and i in locksets]
            if steps:
                inner = [i for i in steps[1:] if k.ins[i].library]
                info.branches.append((f"{ident(t.name)}_{steps[0]}", [
                    (f"{ident(t.name)}_{i}", {f"{ident(t.name)}_{i}"}) for i in inner] + [
                    (f"{ident(t.name)}_{i}_{a.suffix}", {f"{ident(t.name)}_{i}_{a.suffix}"})
                    for i in steps if k.ins[i].library for a in k.ins[i].alts]))
        return pc

    def _signal_points(self, t, k: Code, live: list[int], succ_of, resolve, pc: Expr, names: dict[int, str]) -> None:
        """Per fence this thread signals: the calls from which one of its signals is still ahead (backward
        reachability over the thread's control flow, error outcomes included). The wait-for graph follows a
        fence to the one thread that can still signal it (DL-1: waiter -> fence -> signaller -> lock -> holder)."""
        preds: dict[int, set[int]] = {}
        for i in live:
            for j in succ_of(i) + [resolve(a.goto) for a in k.ins[i].alts]:
                preds.setdefault(j, set()).add(i)
        for f in dict.fromkeys(k.ins[i].signals.name for i in live if k.ins[i].signals is not None):
            todo = [i for i in live if k.ins[i].signals is not None and k.ins[i].signals.name == f]
            reach = set(todo)
            while todo:
                for j in preds.get(todo.pop(), ()):
                    if j not in reach:
                        reach.add(j)
                        todo.append(j)
            self._can_signal.setdefault(f, {})[t.name] = disj(*[pc == names[i] for i in sorted(reach)])

    def _may_die(self, ww_held: frozenset[str]) -> bool:
        """-EDEADLK needs another acquire context to contend with and a ww lock some path may already hold:
        the first lock of a transaction never dies, and neither does a program's only transaction."""
        return len(self.ww_threads) >= 2 and bool(ww_held)

    def _grace_period(self) -> None:
        """RCU: once no thread is inside a read-side section, every kfree_rcu'd object is really freed."""
        pending = self.objects
        quiet = conj(*[v == 0 for v in self.rcu.values()])
        self.m.action("rcu_grace_period", quiet & disj(*[o.life == GRACE for o in pending]),
                      [assign(o.life, ite(o.life == GRACE, FREED, o.life)) for o in pending], actor="rcu",
                      kernel="an RCU grace period ends", call="rcu: grace period (call_rcu callbacks run)",
                      meaning="kfree_rcu'd memory is freed once no reader is inside rcu_read_lock()")

    def _end_checks(self, info: DriverInfo, pcs: dict[str, Expr]) -> None:
        env = {t.name for t in self.d.threads if t.env}
        work = {t.name for t in self.d.threads if t.work}

        def finished(name: str) -> Expr:
            done = pcs[name] == DONE
            if name in env:
                idle = pcs[name] == self.m.variable(f"pc_{ident(name)}").init
                if name in work:  # a queued work item still has to run
                    idle = idle & (self.work_flag(name) == 0)
                done = done | idle
            return done

        all_done = conj(*[finished(t) for t in self.threads])
        self.m.valid_end = all_done
        for (owner, oname), v in self.held_vars.items():
            if owner in pcs:
                info.add("kref-leak", (pcs[owner] == DONE) & (v > 0),
                         f"{owner} returns still holding a reference to {oname}")
        self._leak_checks(info, all_done)
        for dm in self.d.dma_mappings:
            info.add("dma-api", all_done & dm.mapped, f"every thread is done and {dm.name} is still mapped "
                     "(DMA-API: device driver has pending DMA allocations while released)")
        for t in self.threads:
            for lk in self.locks:
                info.add("lock-held-at-exit", (pcs[t] == DONE) & (lk.holder == t),
                         f"{t} returns holding {lk.name}")
                if isinstance(lk, RwSem) and t in self.plan.readers.get(lk.name, ()):
                    info.add("lock-held-at-exit", (pcs[t] == DONE) & (self.reader(lk, t) == 1),
                             f"{t} returns holding {lk.name} for read")
        for t, (stamp, _acquired) in self._ww.items():  # ww_acquire_init() acquires a lockdep map: fini drops it
            if t in pcs:
                info.add("lock-held-at-exit", (pcs[t] == DONE) & (stamp != 0),
                         f"{t} returns with its ww acquire context still active (no ww_acquire_fini: lockdep's "
                         "'lock held when returning to user space', reservation_ww_class_acquire)")
        for obj, f, v in self.device_uses.values():  # DMA into freed memory: the device writes until f signals
            info.add("dma-after-free", (v == 1) & ~_signaled(f) & ((obj.life == FREED) | (obj.life == GRACE)),
                     f"{obj.name} was freed while a device job still accesses it: {f.name} has not signaled "
                     "(DMA into freed memory)")
        for f in (f for f in self.fences if not f.long_lived):
            info.add("fence-signals", all_done & (f.life == LIVE) & ~_signaled(f),
                     f"every thread is done and {f.name} never signaled")
        for cond, text in self.d.invariants:
            try:
                value = cond()
                if isinstance(value, bool):
                    raise ModelError(f"invariant {text!r}: its condition is the Python value {value}, not model state "
                                     "(compare a field's value: f.value == 0)")
                bad = ~lift(value)
            except ModelError:
                raise
            except Exception as e:  # a user's lambda: one line, never a traceback
                raise ModelError(f"invariant {text!r}: building its condition raised {type(e).__name__}: {e}") from None
            info.add("driver-assert", bad, f"the invariant '{text}' does not hold")
        for f in (f for f in self.fences if not f.long_lived):  # liveness: a live unsignaled fence is eventually
            # signaled (or freed unpublished)
            info.liveness.append((f.name, (f.life == LIVE) & ~_signaled(f), _signaled(f) | (f.life == FREED)))
        kernel = {t.name for t in self.d.threads if not t.env or t.work}
        info.fair = tuple(a.name for a in self.m.actions if a.actor in kernel)
        for lname, usage in self.irq_used.items():
            for kind, (in_ctx, on) in usage.items():
                tag = "HARDIRQ" if kind == "irq" else "SOFTIRQ"
                info.add("irq-inconsistent-lock", (in_ctx == 1) & (on == 1),
                         f"{lname} is taken in {tag} context and elsewhere with {tag.lower()}s enabled "
                         f"(inconsistent {{IN-{tag}-W}} -> {{{tag}-ON-W}} usage)")
        for a in self.attachments:
            owners = sorted(set(self.plan.attachers.get(a.name, ())) | ({a.owner} if a.owner else set()))
            if any((o, a.buf.name) in self.held_vars for o in owners):
                # the importer's reference may live in its own structures and move between its paths: a pointer
                # field (the GEM object's import_attach, a map struct: a non-fd slot), an object it handed the
                # reference to, the thread that took it out to free the object; an fd is userspace's to close, a
                # long-lived d.holder() someone else's (the exporter's own reference)
                others = set(self.d.holders) - {a.owner}
                kept = [v for (o, name), v in self.held_vars.items() if name == a.buf.name and o not in others]
                kept += [s.v for s in self.slots if s.obj is a.buf and s.holds_ref and s.kind != "fd"]
                info.add("attach-holds-ref", (a.v != "NONE") & conj(*[v == 0 for v in kept]),
                         f"{a.name} is attached while its importer holds no reference to {a.buf.name}")

    def _leak_checks(self, info: DriverInfo, all_done: Expr) -> None:
        """kmemleak's view (KREF-4): an object freed while it still holds references leaks what they point
        at, and an object still alive when every thread is done that no root reaches (a thread, a long-lived
        holder, an fd or handle, a callback, a resv) is lost: a reference cycle, or a reference stored in an
        object that was freed."""
        objs = {o.name: o for o in self.objects}

        def gone(o: KObject) -> Expr:
            return (o.life == FREED) | (o.life == GRACE)

        # a reference to memory already freed (by whoever) dangles; it leaks only while its object lives
        for (owner, name), v in self.held_vars.items():
            if owner in objs and name in objs:
                info.add("kref-leak", gone(objs[owner]) & (v > 0) & ~gone(objs[name]),
                         f"{owner} was freed still holding a reference to {name}")
        for ptr in self.d.pointers:
            if ptr.of is not None and ptr.holds_ref:
                live = disj(*[ptr.points_to(t) & ~gone(t) for t in ptr.targets])
                info.add("kref-leak", gone(ptr.of) & live,
                         f"{ptr.of.name} was freed while {ptr.name} still holds a reference")
        for sl in self.slots:
            if sl.of is not None and sl.holds_ref:
                info.add("kref-leak", gone(sl.of) & (sl.v == 1) & ~gone(sl.obj),
                         f"{sl.of.name} was freed while {sl.name} still holds a reference to {sl.obj.name}")
        # reachability from the roots, unfolded as many times as there are objects (the longest chain)
        held_by: dict[str, list[tuple[str | None, Expr]]] = {o: [] for o in objs}
        for (owner, name), v in self.held_vars.items():
            if name in held_by:
                held_by[name].append((owner if owner in objs else None, v > 0))
        for sl in self.slots:
            if sl.holds_ref and sl.obj.name in held_by:
                held_by[sl.obj.name].append((sl.of.name if sl.of is not None else None, sl.v == 1))
        for ptr in self.d.pointers:
            if ptr.holds_ref:
                for t in ptr.targets:
                    held_by[t.name].append((ptr.of.name if ptr.of is not None else None, ptr.points_to(t)))
        reach: dict[str, Expr] = {o: disj(*[c for h, c in hs if h is None]) for o, hs in held_by.items()}
        # a path from a root passes each object that holds references at most once: that many unfoldings
        for _ in range(len({h for hs in held_by.values() for h, _c in hs if h is not None})):
            reach = {o: disj(reach[o], *[c & reach[h] for h, c in hs if h is not None]) for o, hs in held_by.items()}
        for name, o in objs.items():
            if not o.frees:
                info.add("kref-leak", all_done & (o.life == LIVE) & (o.count == 0),
                         f"{name}'s release ran but nothing freed it (its deferred destroy never came)")
            if o.refcounted and any(h is not None for h, _c in held_by[name]):  # reachable only through objects
                info.add("kref-leak", all_done & (o.life == LIVE) & ~reach[name],
                         f"{name} is still alive but no thread, handle or holder reaches it (a reference cycle, "
                         "or a reference lost with the object that held it)")

    def declare_fencesets(self) -> None:
        """Fences some thread signals are waitable resources of the wait-for graph (declared before the
        actions that wait on them; the signal action is named once the signalling thread is emitted)."""
        for f in self.fences:
            # bind this build's variables now: a later build rebinds the fence object to its own model
            pending = (f.signaled_v == 0) & (f.life == LIVE)
            fs = self.m.fence_set(f.name, None, (lambda p: lambda _j: p)(pending), signal="", kernel="dma_fence")
            self._fencesets[f.name] = fs

    def work_waitable(self, work: str):
        """A work item as a waitable of the wait-for graph: pending while queued or running, and only the
        work itself makes it idle (a flush under a lock the work takes is a cycle: DL-1)."""
        if work not in self._worksets:
            busy = (self.work_flag(work) == 1) | (self.work_running(work) == 1)
            self._worksets[work] = self.m.fence_set(f"work {work}", None, lambda _j: busy, signal="",
                                                    kernel="work_struct")
        return self._worksets[work]

    def finish_fencesets(self) -> None:
        for work, fs in self._worksets.items():
            fs.signal = self._work_ends.get(work, "")
            fs.signallers = (work,)
            fs.can_signal = {work: lift(True)}
            if not fs.signal:  # a work item that never returns: its flush shows as a stuck state
                self.m.fences.remove(fs)
                for a in self.m.actions:
                    if a.waits is not None and a.waits.on is fs:
                        a.waits = None
        for f in self.fences:
            fs = self._fencesets[f.name]
            sig = self._signal_actions.get(f.name, [])
            if not sig:
                self.m.fences.remove(fs)  # nobody signals it: waits on it show as stuck states, not wait-for edges
                for a in self.m.actions:
                    if a.waits is not None and a.waits.on is fs:
                        a.waits = None
                continue
            fs.signal = sig[0][0]
            fs.signallers = tuple(dict.fromkeys(t for _a, t in sig))
            fs.can_signal = dict(self._can_signal.get(f.name, {}))


def _signaled(f: Fence) -> Expr:
    """Signaled, or a container whose ops->signaled() is true (dma_fence_is_signaled() on it signals it)."""
    own = f.signaled_v == 1
    return disj(own, conj(*[g.signaled_v == 1 for g in f.implied_by])) if f.implied_by else own


def _short(path: str) -> str:
    """A source path as a reader of any machine can follow it: relative to the package or the working
    directory when it is under one, else the file's name."""
    full = os.path.abspath(path)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for base in (root, os.getcwd()):  # a built-in program by its place in the package, a user's file by cwd
        rel = os.path.relpath(full, base)
        if not rel.startswith(".."):
            return rel
    return os.path.basename(full)


def compile_driver(driver, kernel: str | None = None) -> tuple[Model, DriverInfo]:
    """The model of ``driver`` under a kernel generation, and the checks its calls registered."""
    kernel = kernel or driver.kernel
    plan = Plan()
    for _ in range(MAX_PASSES):
        b = DriverBuild(driver, kernel, plan)
        b.declare_fencesets()
        m, info = b.run()
        if b.next_plan.key() == plan.key():
            b.finish_fencesets()
            m.params["driver"] = driver.name
            _INFO[m] = info
            return m, info
        plan = b.next_plan
    raise ModelError(f"driver {driver.name}: callbacks keep registering new callbacks (more than {MAX_PASSES} levels)")


