"""The kernel calls a driver program is written in, and what each one does and checks.

A thread body is a Python function ``def body(k): ...`` that calls methods of
``Code`` in the order the C code does: ``k.mutex_lock(lk)``,
``k.kref_get(obj)``, ``k.dma_fence_signal(f)``, ``k.goto_if(cond, "err")``,
``k.label("err")``. Each call becomes one instruction: one step of the
thread, so another thread may run between any two calls (the kernel is
preemptible and SMP) but not inside one. A call that can fail takes
``fail="label"``: the checker explores both outcomes, the error one jumping
to the label. Callback bodies (a fence callback, the release of the last
reference, an exporter's dma_buf_ops) are inlined where the kernel calls
them, in the caller's context, with the locks the kernel holds there.

Every instruction records what it checks: a rule id and the condition under
which the call, about to run, breaks that rule (a put without a reference,
a sleeping call in atomic context, a use of freed memory). The properties
of ``properties.kernel_objects`` are the negations of those conditions, so a
counterexample ends in the state where the bad call is the thread's next step.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dmabuf_check.model.design import USAGES
from dmabuf_check.model.driver.gem import GemCalls
from dmabuf_check.model.driver.mmap import MmapCalls
from dmabuf_check.model.driver.objects import (
    ALLOC,
    ATOMIC_CONTEXTS,
    DMA_DIRECTIONS,
    ERR_PTR,
    FREED,
    GRACE,
    LIVE,
    UNBORN,
    Attachment,
    Body,
    Callback,
    Completion,
    DmaBuf,
    DmaMapping,
    ErrPtr,
    Fence,
    Field,
    KObject,
    Lock,
    Pointer,
    Resv,
    RwSem,
    Slot,
    Value,
    WaitQueue,
    ident,
)
from dmabuf_check.model.driver.syncobj import SyncobjCalls
from dmabuf_check.model.expr import Expr, conj, disj, ite, lift
from dmabuf_check.model.lang import Effect, assign
from dmabuf_check.model.lockdep_names import reclaim_maps, work_map
from dmabuf_check.model.types import Enum, ModelError, Range

DONE = "DONE"
WW_CTX = Lock("ww_acquire", sleeps=False, lock_class="reservation_ww_class_acquire")  # lockdep's acquire-context map
SLEEPING_GFP = ("GFP_KERNEL", "GFP_NOFS", "GFP_NOIO")
GFPS = SLEEPING_GFP + ("GFP_ATOMIC", "GFP_NOWAIT")


@dataclass
class Alt:
    """Another outcome of a call: taken when ``cond`` holds (an error return), jumping to ``goto``."""

    suffix: str
    cond: Expr
    effects: list[Effect]
    goto: str
    text: str
    needs_ww: bool = False  # -EDEADLK: only where the context already holds a ww lock (else never, so left out)


@dataclass
class Ins:
    """One call of one thread: one step (an action of the compiled model)."""

    text: str
    guard: Expr = field(default_factory=lambda: lift(True))  # the call blocks until this holds
    effects: list[Effect] = field(default_factory=list)
    goto: str | None = None  # unconditional successor label (None: the next call)
    branch: tuple[Expr, str] | None = None  # (cond, label): jump when cond holds, else fall through
    switch: list[tuple[Expr, str]] = field(default_factory=list)  # the first (cond, label) that holds, else on
    alts: list[Alt] = field(default_factory=list)
    checks: list[tuple[str, Expr, str]] = field(default_factory=list)  # (property id, bad condition, why)
    marks: list[tuple[str, str, Expr]] = field(default_factory=list)  # lockdep usage: (lock, usage, when)
    acquires: tuple[str, ...] = ()
    take: Lock | None = None  # static lockset: taken by the call's main outcome
    drop: Lock | None = None
    waits_lock: Lock | None = None
    wait_when: Expr | None = None  # blocked on waits_lock only while this holds (ww: a dying context is not)
    waits_fence: Fence | None = None
    waits_work: str | None = None  # flush_work / cancel_work_sync: blocked until this work item is idle
    waits_sem: tuple[RwSem, bool] | None = None  # down_read / down_write: blocked on the rwsem's holders
    ends_work: str | None = None  # the last step of a work item's run
    signals: Fence | None = None
    sig_begin: bool = False
    sig_end: bool = False
    in_signalling: bool = False
    in_release: bool = False  # part of a release that runs only when a put drops the last reference
    in_reclaim: bool = False  # a shrinker's call run by direct reclaim inside an allocation
    library: bool = False  # a step inside a kernel call written in this library (drm_gem_*, drm_syncobj_*, mmap)
    where: tuple[str, int] | None = None  # the line of the driver's source that makes the call
    allocates: KObject | None = None  # the object this call creates (its thread may set it up unpublished)
    attaches: Attachment | None = None  # the attachment this call creates (its owner must hold the buffer)
    owner: str = ""


LOOP_SCOPE = "loop:"  # a loop body's label scope: a goto to a label outside it (a break) resolves outward
CORE_CALLS: list[str] = []  # the dma-buf core calls a driver may replace (Driver.core), in definition order


def core_call(body: Callable[..., None]) -> Callable[..., None]:
    """A call of the dma-buf core: ``Driver.core`` may replace it. The replacement gets the call's arguments
    (defaults filled in) and ``default``, this built-in body."""
    CORE_CALLS.append(body.__name__)
    sig = inspect.signature(body)

    @functools.wraps(body)
    def call(self: Code, *args: Any, **kwargs: Any) -> None:
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        self._core(body.__name__, lambda: body(self, *args, **kwargs), *bound.args[1:], **bound.kwargs)
    return call


class Code(SyncobjCalls, MmapCalls, GemCalls):
    """The builder a thread body writes on: one method per kernel call."""

    def __init__(self, build: Any, thread: str, context: str):
        # build: the model.driver.compile.DriverBuild of this pass (not imported: compile imports this module)
        self.b = build
        self.thread = thread
        self.context = context
        self.ins: list[Ins] = []
        self.labels: dict[str, int] = {}
        self._pending_labels: list[str] = []
        self._pending_checks: list[tuple[str, Expr, str]] = []
        self._scope: list[str] = []  # label prefixes of inlined bodies
        self._owner: list[str] = [thread]  # whose references the calls take and drop
        self._declared = next((t.where for t in build.d.threads if t.name == thread), None)
        self._signalling = 0
        self._releasing = 0
        self._in_core = False
        self._work_end: str | None = None  # a work item's return goes here (its "running" flag is cleared)
        self._inline_depth = 0
        self._reclaiming = 0  # inside a shrinker run by direct reclaim (its calls hold fs_reclaim)
        self._op_errors = 0  # error returns of inlined ops and helpers that went to a caller's fail label
        self._text_next = ""  # text= of the call being written, for its first step
        self._uid = 0
        self._values = 0  # local variables (Value) made so far: their names are the same in every pass
        # calls on a Value: the step that branches on it, and per branch (one per object it may hold) the
        # instructions [first, end) the branch wrote
        self.dispatches: list[tuple[int, list[tuple[int, int]]]] = []
        self._library = 0  # inside a kernel call the library writes as a program (a mixin's call)
        self.library_calls: list[tuple[int, int]] = []  # the steps [first, end) of each outermost such call
        # exporter ops being inlined: (depth, op, where an error return goes or None, the core's state to undo)
        self._ops: list[tuple[int, str, str | None, list[Effect]]] = []

    # ---- who runs -------------------------------------------------------
    @property
    def me(self) -> str:
        return self.thread

    @property
    def owner(self) -> str:
        return self._owner[-1]

    def atomic(self) -> Expr:
        """The thread may not sleep: IRQ/softirq context, a spinlock held, interrupts or preemption off."""
        parts: list[Expr] = [lift(self.context in ATOMIC_CONTEXTS)]
        parts += [lk.holder == self.me for lk in self.b.locks if not lk.sleeps]
        for v in (self.b.irqoff.get(self.me), self.b.bhoff.get(self.me), self.b.rcu.get(self.me)):
            if v is not None:
                parts.append(v > 0)
        return disj(*parts)

    # ---- control flow -----------------------------------------------------
    def _lab(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise ModelError(f"thread {self.thread}: a label is a non-empty string, got {name!r}")
        return "/".join(self._scope + [name])

    def label(self, name: str) -> None:
        """``name:`` in C: the next call carries this label (a goto target)."""
        full = self._lab(name)
        if full in self.labels or full in self._pending_labels:
            raise ModelError(f"thread {self.thread}: label {name!r} defined twice")
        self._pending_labels.append(full)

    def goto(self, name: str, text: str = "") -> None:
        self._add(Ins(text or f"goto {name}", goto=self._lab(name)))

    def goto_if(self, cond: object, name: str, text: str = "") -> None:
        """``if (cond) goto name;`` -- cond reads object state (``fence.signaled``, ``slot.set``, ``obj.alive``,
        ``field.value == 0``)."""
        c = self._cond(cond, "goto_if")
        self._add(Ins(text or f"if (...) goto {name}", branch=(c, self._lab(name))))

    @contextmanager
    def if_(self, cond: object, text: str = ""):
        """``if (cond) { ... }`` around the calls of the with-block."""
        c = self._cond(cond, "if_")
        end = self._fresh("endif")
        self._add(Ins(text or "if (...)", branch=(~c, self._lab(end))))
        yield
        self.label(end)

    def ret(self, value: object = 0) -> None:
        """``return value;`` -- the thread ends (an inlined callback returns to its caller). An exporter op
        that returns an error (``"-EINVAL"``, a negative number) fails the core call that runs it: the core
        undoes its part and the caller goes to that call's ``fail`` label."""
        target = self._scope_end() if self._inline_depth else (self._work_end or DONE)
        op = self._ops[-1] if self._ops and self._ops[-1][0] == self._inline_depth else None
        if op is not None and _is_error(value):
            _depth, name, fail, undo = op
            if fail is None:
                at = _caller()
                where = f" at {os.path.basename(at[0])}:{at[1]}" if at else ""
                raise ModelError(f"thread {self.thread}: the {name} op returns {value}{where}, but the core "
                                 "call that runs it has no fail= label: give that call fail= for the error path "
                                 "(the kernel returns the error to the caller)")
            why = "the caller goes to its error path" if name.endswith("()") else "the core call returns the error"
            if isinstance(fail, dict):  # call(fn, fail={"-EBUSY": "busy", "*": "err"}): a label per errno
                key = str(value).strip()
                target_label = fail.get(key, fail.get("*"))
                if target_label is None:
                    raise ModelError(f"thread {self.thread}: {name} returns {value}, which its caller's fail= "
                                     f"does not name ({', '.join(sorted(fail))}; add it, or '*' for the rest)")
                fail = target_label
            self._add(Ins(f"return {value} /* {name} failed: {why} */", goto=fail, effects=list(undo)))
            self._op_errors += 1
            return
        self._add(Ins(f"return {value}", goto=target))

    def call(self, fn: Callable[..., None], *args: object, fail: str | dict[str, str] | None = None,
             text: str = "") -> None:
        """Call a helper function of the driver: its body is inlined here (labels local to the call).
        ``fail``: ``ret = fn(...); if (ret) goto fail;`` -- an error return of the helper (``k.ret("-ENOMEM")``)
        goes to that label of the caller; without it the caller ignores the return value. A dict branches on
        the error, as ``if (ret == -EBUSY) goto busy;`` does: ``fail={"-EBUSY": "busy", "*": "err"}``.
        ``text``: the call as the source writes it, shown on the helper's first step."""
        name = getattr(fn, "__name__", "fn")
        if not isinstance(text, str):
            raise ModelError(f"thread {self.thread}: call(text=...) is a string, got {type(text).__name__}")
        if text:
            self._text_next = text
        if fail is None:
            self._inline(name, lambda: fn(self, *args))
            return
        if isinstance(fail, dict):
            if not fail or not all(isinstance(k, str) and isinstance(v, str) for k, v in fail.items()):
                raise ModelError(f"thread {self.thread}: call({name}, fail=...): a dict maps errno names "
                                 "(\"-EBUSY\", or \"*\" for any other) to labels")
            resolved: str | dict[str, str] = {k.strip(): self._lab(v) for k, v in fail.items()}
        else:
            resolved = self._lab(fail)
        self._ops.append((self._inline_depth + 1, f"{name}()", resolved, []))
        errors = self._op_errors
        try:
            self._inline(name, lambda: fn(self, *args))
        finally:
            self._ops.pop()
        if self._op_errors == errors:
            raise ModelError(f"thread {self.thread}: call({name}, fail={fail!r}): {name} returns no error "
                             "(k.ret(\"-E...\")), so the label is never taken")

    # ---- driver state, assertions, completions ------------------------------
    def set(self, f: Field, value: object, text: str = "") -> None:
        """``obj->field = value`` (one atomic store); a field holds 0..max_value (a value computed from state
        that leaves the range is clamped and flagged: driver-assert)."""
        self._field(f)
        if isinstance(value, (int, bool)):
            self._bound(f, int(value))
            self._add(Ins(text or f"{f.name} = {int(value)}", effects=[assign(f.value, int(value))], owner=self.owner))
            return
        v = lift(value)
        ins = Ins(text or f"{f.name} = ...", owner=self.owner,
                  effects=[assign(f.value, ite(v < 0, 0, ite(v > f.max_value, f.max_value, v)))])
        ins.checks.append(("driver-assert", (v < 0) | (v > f.max_value),
                           f"{f.name} would leave 0..{f.max_value} (fields are unsigned: raise max_value, or the "
                           "count runs away)"))
        self._add(ins)

    def inc(self, f: Field, text: str = "") -> None:
        """``atomic_inc`` / ``++``: beyond the field's bound is a model error (raise max_value)."""
        self._field(f)
        ins = Ins(text or f"atomic_inc(&{f.name})", effects=[assign(f.value, ite(f.value < f.max_value, f.value + 1,
                                                                                 f.value))], owner=self.owner)
        ins.checks.append(("driver-assert", f.value >= f.max_value, f"{f.name} would exceed {f.max_value} (raise "
                           "max_value, or a count runs away)"))
        self._add(ins)

    def dec(self, f: Field, *, zero: str | None = None, text: str = "") -> None:
        """``atomic_dec``; with ``zero`` it is ``if (atomic_dec_and_test(&f)) goto zero``."""
        self._field(f)
        ins = Ins(text or f"atomic_dec{'_and_test' if zero else ''}(&{f.name})",
                  effects=[assign(f.value, ite(f.value > 0, f.value - 1, 0))], owner=self.owner)
        ins.checks.append(("driver-assert", f.value == 0, f"{f.name} is decremented below 0"))
        if zero:
            ins.branch = (f.value == 1, self._lab(zero))
        self._add(ins)

    def test_and_set_bit(self, f: Field, *, was_set: str | None = None, was_clear: str | None = None,
                         text: str = "") -> None:
        """``if (test_and_set_bit(BIT, &f)) goto was_set;`` (or ``if (!...) goto was_clear``): one atomic
        step sets the flag and branches on its old value, so exactly one racer sees it clear."""
        self._bitop(f, 1, was_set, was_clear, text or f"test_and_set_bit(&{f.name})")

    def test_and_clear_bit(self, f: Field, *, was_set: str | None = None, was_clear: str | None = None,
                           text: str = "") -> None:
        """``if (test_and_clear_bit(BIT, &f))`` ...: clears the flag and branches on its old value."""
        self._bitop(f, 0, was_set, was_clear, text or f"test_and_clear_bit(&{f.name})")

    def _bitop(self, f: Field, new: int, was_set: str | None, was_clear: str | None, text: str) -> None:
        self._field(f)
        if (was_set is None) == (was_clear is None):
            raise ModelError(f"thread {self.thread}: {text}: give exactly one of was_set= or was_clear= (the label "
                             "the other outcome jumps to)")
        cond, label = (f.value != 0, was_set) if was_set is not None else (f.value == 0, was_clear)
        self._add(Ins(text, effects=[assign(f.value, new)], branch=(cond, self._lab(label)),  # type: ignore[arg-type]
                      owner=self.owner))

    def xchg(self, f: Field, new: int, *, old: int | None = None, goto: str | None = None, text: str = "") -> None:
        """``if (xchg(&f, new) == old) goto goto;``: one atomic store returning the old value."""
        self._field(f)
        self._bound(f, new)
        if (old is None) != (goto is None):
            raise ModelError(f"thread {self.thread}: xchg(&{f.name}): old= and goto= go together")
        ins = Ins(text or f"xchg(&{f.name}, {new})", effects=[assign(f.value, new)], owner=self.owner)
        if goto is not None:
            ins.branch = (f.value == old, self._lab(goto))
        self._add(ins)

    def cmpxchg(self, f: Field, old: int, new: int, *, fail: str, text: str = "") -> None:
        """``if (cmpxchg(&f, old, new) != old) goto fail;``: stores ``new`` only if ``f`` still holds ``old``."""
        self._field(f)
        self._bound(f, old)
        self._bound(f, new)
        self._add(Ins(text or f"cmpxchg(&{f.name}, {old}, {new})", effects=[assign(f.value, ite(f.value == old, new,
                                                                                                  f.value))],
                      branch=(f.value != old, self._lab(fail)), owner=self.owner))

    def _bound(self, f: Field, v: object) -> None:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= f.max_value:
            raise ModelError(f"thread {self.thread}: {f.name} holds 0..{f.max_value}, got {v!r}")

    def warn_on(self, cond: object, text: str) -> None:
        """``WARN_ON(cond)`` / ``BUG_ON(cond)``: the driver's own assertion, a property of the check."""
        ins = Ins(text, owner=self.owner)
        ins.checks.append(("driver-assert", self._cond(cond, "warn_on"), f"{text} fires"))
        self._add(ins)

    bug_on = warn_on

    def complete(self, c: Completion, *, all: bool = False) -> None:  # noqa: A002 - complete_all
        done = self._completion(c)
        value = 3 if all else ite(done < 2, done + 1, done)
        self._add(Ins(f"complete{'_all' if all else ''}(&{c.name})", effects=[assign(done, value)], owner=self.owner))

    def complete_all(self, c: Completion) -> None:
        self.complete(c, all=True)

    def wait_for_completion(self, c: Completion, *, timeout: str | None = None) -> None:
        """Sleep until ``c`` is completed; a complete() lets one waiter through, complete_all() all of them.
        ``timeout``: wait_for_completion_timeout() returning 0 to that label while not completed."""
        done = self._completion(c)
        name = "wait_for_completion_timeout" if timeout else "wait_for_completion"
        ins = Ins(f"{name}(&{c.name})", guard=done > 0, owner=self.owner,
                  effects=[assign(done, ite(done == 3, 3, done - 1))])
        self._sleep_check(ins, ins.text)
        if timeout:
            ins.alts.append(Alt("timeout", done == 0, [], self._lab(timeout), f"{ins.text} -> 0 (timed out)"))
        self._add(ins)

    def wait_event(self, wq: WaitQueue, cond: object, *, text: str = "", timeout: str | None = None,
                   intr: bool = False, fail: str | None = None) -> None:
        """``wait_event(wq, cond)``: if cond holds go on; else sleep on ``wq`` and recheck cond after each
        ``wake_up(wq)`` (prepare_to_wait, then schedule()). ``timeout`` (wait_event_timeout): the label a
        sleeper goes to when time runs out; ``intr`` + ``fail``: -ERESTARTSYS (wait_event_interruptible)."""
        self._waitqueue(wq)
        self._no_fail_unless(intr, fail, "wait_event", "intr=True")
        st = self.b.sleep_state(wq.name, self.me)
        c = lift(cond)
        what = text or f"wait_event({wq.name}, cond)"
        top, done = self._fresh("wait_event"), self._fresh("woken")
        self.label(top)
        ins = Ins(f"{what}: prepare_to_wait; if (cond) break", owner=self.owner, branch=(c, self._lab(done)),
                  effects=[assign(st, ite(c, 0, 1))])
        self._sleep_check(ins, what)
        self._add(ins)
        sleep = Ins(f"{what}: schedule() until wake_up({wq.name})", owner=self.owner, guard=st == 2,
                    effects=[assign(st, 0)], goto=self._lab(top))
        if timeout:
            sleep.alts.append(Alt("timeout", st == 1, [assign(st, 0)], self._lab(timeout),
                                  f"{what} -> 0 (timed out)"))
        if fail:
            sleep.alts.append(Alt("erestartsys", st == 1, [assign(st, 0)], self._lab(fail),
                                  f"{what} -> -ERESTARTSYS"))
        self._add(sleep)
        self.label(done)

    def wake_up(self, wq: WaitQueue, text: str = "") -> None:
        """``wake_up(wq)`` / ``wake_up_all``: every thread asleep on ``wq`` wakes and rechecks its condition."""
        self._waitqueue(wq)
        effects = []
        for t in sorted(self.b.plan.sleepers.get(wq.name, ())):
            st = self.b.sleep_state(wq.name, t)
            effects.append(assign(st, ite(st == 1, 2, st)))
        self._add(Ins(text or f"wake_up({wq.name})", effects=effects, owner=self.owner))

    wake_up_all = wake_up
    wake_up_interruptible = wake_up

    def reinit_completion(self, c: Completion) -> None:
        self._add(Ins(f"reinit_completion(&{c.name})", effects=[assign(self._completion(c), 0)], owner=self.owner))

    # ---- memory and references --------------------------------------------
    def kzalloc(self, obj: KObject, gfp: str = "GFP_KERNEL", *, fail: str | None = None, initialised: bool = True,
                kref_init: bool = True, text: str = "", into: KObject | str | None = None) -> None:
        """``obj = kzalloc(sizeof(*obj), gfp); kref_init(&obj->ref);``: the caller owns the one reference.

        ``initialised=False`` leaves the object being set up (ALLOC) until ``init(obj)``: another
        thread reaching it before then uses an uninitialised object. ``into``: the reference goes straight
        to that object or holder (``buffer->vaddr = vmap(...)`` inside an exporter op), whose release frees it."""
        self._obj(obj)
        gfp = self._gfp(gfp)
        holder = self.owner
        if into is not None:
            holder = into.name if isinstance(into, KObject) else into
            if holder not in {o.name for o in self.b.objects} | set(self.b.d.holders):
                raise ModelError(f"thread {self.thread}: kzalloc({obj.name}, into={holder!r}): not an object or a "
                                 "holder of this driver")
        held = self.b.held(holder, obj)
        ins = Ins(text or f"{obj.name} = kzalloc({gfp})", owner=self.owner, allocates=obj)
        ins.checks.append(("kref-leak", disj(obj.life == ALLOC, obj.life == LIVE) & (held > 0),
                           f"{obj.name} is overwritten while {holder} still holds a reference to it"))
        ins.effects += [assign(obj.life, LIVE if initialised else ALLOC), assign(held, 1 if kref_init else 0)]
        if obj.refcounted:  # kref_init=False: the count is still 0 until something initialises it
            ins.effects.append(assign(obj.count, 1 if kref_init else 0))
        self._alloc(ins, gfp)
        if fail:
            ins.alts.append(Alt("enomem", lift(True), [], self._lab(fail), f"{ins.text} -> NULL (-ENOMEM)"))
        self._add(ins)

    kmalloc = kzalloc

    def kref_init(self, obj: KObject, text: str = "") -> None:
        """``kref_init``: an object allocated with ``kref_init=False`` gets its one reference, the caller's."""
        self._ref(obj)
        held = self.b.held(self.owner, obj)
        ins = Ins(text or f"kref_init({obj.name})", owner=self.owner)
        self._deref(ins, obj)
        ins.effects += [assign(obj.count, 1), assign(held, 1)]
        self._add(ins)

    def init(self, obj: KObject, what: str = "") -> None:
        """The object is fully set up (the last field written): others may use it from now on."""
        self._obj(obj)
        ins = Ins(what or f"init {obj.name}", owner=self.owner)
        self._deref(ins, obj)
        ins.effects.append(assign(obj.life, ite(obj.life == ALLOC, LIVE, obj.life)))
        self._add(ins)

    def kfree(self, obj: KObject, text: str = "") -> None:
        self._free(obj, text or f"kfree({obj.name})", FREED)

    def kfree_rcu(self, obj: KObject, text: str = "") -> None:
        """``kfree_rcu``: freed after a grace period; RCU readers already inside a read-side section may still
        read it (KOBJ-1), anyone else may not."""
        self.b.uses_grace()
        self.b.frees_after_grace()
        self._free(obj, text or f"kfree_rcu({obj.name})", GRACE)

    def _free(self, obj: KObject, text: str, state: str) -> None:
        """The memory goes (FREED) or waits for a grace period (GRACE); freeing what never existed does nothing.
        A resv the object embeds is finished first (dma_resv_fini)."""
        self._obj(obj)
        self._resv_fini(obj)
        ins = Ins(text, owner=self.owner)
        ins.checks.append(("double-free", (obj.life == FREED) | (obj.life == GRACE), f"{obj.name} is freed a second "
                           "time"))
        ins.effects += [assign(obj.life, ite(obj.life == UNBORN, UNBORN, state)), assign(self.b.held(self.owner, obj), 0)]
        self._add(ins)

    def dma_fence_get_rcu(self, f: Fence, *, fail: str) -> None:
        """``dma_fence_get_rcu``: under rcu_read_lock, a reference unless the count already dropped to 0."""
        self.kref_get_unless_zero(f, fail=fail, text=f"dma_fence_get_rcu({f.name})")

    def use(self, obj: KObject, what: str = "") -> None:
        """A dereference of ``obj`` (reading or writing a field, calling through its ops)."""
        self._obj(obj)
        ins = Ins(what or f"use {obj.name}", owner=self.owner)
        self._deref(ins, obj)
        self._add(ins)

    def kref_get(self, obj: KObject, text: str = "", *, null_ok: bool = False) -> None:
        """``kref_get``: only valid on an object that already has a reference (refcount_t warns on 0).
        ``null_ok``: the call accepts NULL (dma_fence_get(NULL) returns NULL): an unset object is no use."""
        self._ref(obj)
        ins = Ins(text or f"kref_get({obj.name})", owner=self.owner)
        self._deref(ins, obj, obj.life != UNBORN if null_ok else None)
        ins.checks.append(("kref-get-zero", (obj.count == 0) & (obj.life != FREED) & (obj.life != UNBORN),
                           f"{obj.name}'s count is 0: refcount_t: addition on 0; use-after-free"))
        self._take_ref(ins, obj)
        self._add(ins)

    def kref_get_unless_zero(self, obj: KObject, *, fail: str, text: str = "") -> None:
        """``if (!kref_get_unless_zero(&obj->ref)) goto fail;`` (memory must still be valid: a lookup lock or RCU)."""
        self._ref(obj)
        ins = Ins(text or f"kref_get_unless_zero({obj.name})", owner=self.owner, guard=obj.count > 0)
        self._deref(ins, obj)
        self._take_ref(ins, obj)
        ins.alts.append(Alt("zero", obj.count == 0, [], self._lab(fail), f"kref_get_unless_zero({obj.name}) -> 0"))
        self._add(ins)

    def kref_put(self, obj: KObject, text: str = "", *, null_ok: bool = False) -> None:
        """``kref_put``: drop the caller's reference; the last one runs the release and frees the memory.
        ``null_ok``: the call accepts NULL (dma_fence_put(NULL) does nothing)."""
        self._ref(obj)
        held = self.b.held(self.owner, obj)
        ins = Ins(text or f"kref_put({obj.name})", owner=self.owner)
        self._deref(ins, obj, obj.life != UNBORN if null_ok else None)
        ins.checks.append(("kref-underflow", (obj.count == 0) & (obj.life != UNBORN),
                           f"{obj.name}'s count is already 0: refcount_t: underflow; use-after-free"))
        ins.checks.append(("kref-put-noref", (held == 0) & (obj.count > 0),
                           f"{self.owner} drops a reference to {obj.name} it does not hold"))
        last = obj.count == 1
        ins.effects += [assign(held, ite(held > 0, held - 1, 0)), assign(obj.count, ite(obj.count > 0, obj.count - 1, 0))]
        self._release(ins, obj, last)

    # the kernel's names for the same operations on the objects that have them
    def dma_fence_get(self, f: Fence, text: str = "") -> None:
        self.kref_get(f, text or f"dma_fence_get({f.name})", null_ok=True)  # NULL in, NULL out

    def dma_fence_put(self, f: Fence, text: str = "") -> None:
        self.kref_put(f, text or f"dma_fence_put({f.name})", null_ok=True)  # dma_fence_put(NULL) is a no-op

    def get_file(self, obj: KObject, text: str = "") -> None:
        self.kref_get(obj, text or f"get_file({obj.name})")

    def fput(self, obj: KObject, text: str = "") -> None:
        self.kref_put(obj, text or f"fput({obj.name})")

    def get_dma_buf(self, buf: DmaBuf, text: str = "") -> None:
        self.kref_get(buf, text or f"get_dma_buf({buf.name})")

    def dma_buf_put(self, buf: DmaBuf, text: str = "") -> None:
        self.kref_put(buf, text or f"dma_buf_put({buf.name})")

    # ---- publication --------------------------------------------------------
    def publish(self, slot: Slot, text: str = "", *, fail: str | None = None) -> None:
        """Hand the caller's reference to ``slot`` (fd_install, idr_alloc, list_add, a pointer store):
        from now on any thread may find the object there, and userspace may close it. With ``fail``
        the call can fail (dma_buf_fd: -EMFILE, idr_alloc: -ENOMEM) and the reference stays the caller's."""
        self._slot(slot)
        obj = slot.obj
        held = self.b.held(self.owner, obj)
        ins = Ins(text or f"{_PUBLISH[slot.kind]}({slot.name}, {obj.name})", owner=self.owner)
        self._deref(ins, obj, init=False)
        if slot.holds_ref:
            ins.checks.append(("kref-put-noref", held == 0,
                               f"{self.owner} hands {slot.name} a reference to {obj.name} it does not hold"))
            ins.checks.append(("kref-leak", slot.v == 1,
                               f"{slot.name} already holds a reference to {obj.name}: publishing again loses it"))
            ins.effects.append(assign(held, ite(held > 0, held - 1, 0)))
        ins.effects.append(assign(slot.v, 1))
        if fail:
            ins.alts.append(Alt("fail", lift(True), [], self._lab(fail), f"{ins.text} -> error"))
        self._add(ins)

    def ptr_xchg(self, p: Pointer, obj: KObject | ErrPtr | None, text: str = "", *, var: str = "old") -> Value:
        """``old = xchg(&p, obj)`` / ``rcu_replace_pointer``: the caller's reference to ``obj`` moves into the
        pointer and the pointer's reference to the old object (if any) comes back to the caller, who must drop
        it (or leaks it). Returns ``old`` (a ``Value``: ``k.dma_fence_put(old)`` drops what it held)."""
        self._pointer(p, obj)
        ins = Ins(text or f"{var} = xchg(&{p.name}, {obj.name if obj else 'NULL'})", owner=self.owner)
        old = self._value(p, var, ins)
        err = obj is ERR_PTR
        if err:
            self.b.next_plan.err_ptrs.add(p.name)  # the next pass declares the value
        if obj is not None and not err:
            self._deref(ins, obj, init=False)
        if p.holds_ref:
            if obj is not None and not err:
                mine = self.b.held(self.owner, obj)
                ins.checks.append(("kref-put-noref", (mine == 0) & ~p.points_to(obj),
                                   f"{self.owner} stores a reference to {obj.name} in {p.name} it does not hold"))
            for t in p.targets:
                mine, its = self.b.held(self.owner, t), self.b.held(p.name, t)
                was, now = p.points_to(t), lift(obj is t)
                # the old target's reference to the caller, the new one's from the caller (t both: no change)
                ins.effects += [assign(its, ite(now, ite(was, its, its + 1), ite(was, its - 1, its))),
                                assign(mine, ite(now & ~was, ite(mine > 0, mine - 1, 0),
                                                 ite(was & ~now, ite(mine < t.max_refs, mine + 1, mine), mine)))]
        value = "NULL" if obj is None or (err and not self._has_err(p)) else obj.name
        ins.effects.append(assign(p.v, value))
        self._add(ins)
        return old

    def ptr_load(self, p: Pointer, *, var: str = "") -> Value:
        """``fence = READ_ONCE(p)`` / ``rcu_dereference(p)``: the pointer's current value in a local variable
        (``var``: its C name, for traces). Pass it to any call in place of an object (``k.dma_fence_wait(fence)``,
        ``k.kref_get_unless_zero(fence, fail=...)``): the call runs on the object it held at the load, whatever
        the pointer does since. A call on NULL or an ERR_PTR oopses (null-deref) unless the call accepts NULL
        (dma_fence_get/put, kfree); stores (ptr_store, ptr_xchg) store it as it is. No reference is taken."""
        self._pointer(p, None)
        var = var or ident(p.name.rsplit("->", 1)[-1])
        ins = Ins(f"{var} = READ_ONCE({p.name})", owner=self.owner)
        val = self._value(p, var, ins)
        self._add(ins)
        return val

    def _value(self, p: Pointer, var: str, ins: Ins) -> Value:
        """The value ``p`` holds before ``ins`` runs, as a local variable set by ``ins`` (declared on first use)."""
        if not isinstance(var, str) or not var.isidentifier():
            raise ModelError(f"thread {self.thread}: a local variable's name is a C identifier, got {var!r}")
        err = self._has_err(p)
        src: Expr = lift("NULL")
        for t in reversed(p.targets):
            src = ite(p.points_to(t), t.name, src)
        if err:
            src = ite(p.points_to(ERR_PTR), ERR_PTR.name, src)
        self._values += 1
        name = f"val_{ident(self.thread)}_{var}_{self._values}"
        domain = ("NULL", *[t.name for t in p.targets], *((ERR_PTR.name,) if err else ()))

        def declare() -> Expr:
            return self.b._lazy(name, Enum(name, *domain), "NULL", kernel=f"{var} (a local variable of {self.thread})",
                                meaning=f"what {self.thread}'s {var} holds", rule="")
        return Value(var, self.thread, p.targets, err, declare=declare, producers=[(ins.effects, src)])

    def _has_err(self, p: Pointer) -> bool:
        """Whether some call stores an ERR_PTR in ``p`` (known from the first pass on)."""
        return p.name in self.b.plan.err_ptrs

    def ptr_store(self, p: Pointer, obj: KObject | ErrPtr | None, text: str = "") -> None:
        """``WRITE_ONCE(p, obj)`` / ``rcu_assign_pointer``: like ``ptr_xchg``, but the old reference is lost:
        storing over a pointer that still holds one is a leak (KREF-4)."""
        self._pointer(p, obj)
        if p.holds_ref:
            empty = p.points_to(None) | (p.points_to(ERR_PTR) if self._has_err(p) else lift(False))
            same = p.points_to(obj) if obj is not ERR_PTR or self._has_err(p) else lift(False)
            self._pending_checks.append(("kref-leak", ~empty & ~same,
                                         f"{p.name} is overwritten while it holds a reference"))
        self.ptr_xchg(p, obj, text or f"rcu_assign_pointer({p.name}, {obj.name if obj else 'NULL'})")

    def ptr_switch(self, p: Pointer, cases: dict[KObject, str], *, null: str | None = None, err: str | None = None,
                   text: str = "") -> None:
        """``obj = READ_ONCE(p)`` and branch on it: to ``cases[obj]`` for each target listed, to ``null`` when
        NULL, to ``err`` when ``IS_ERR(p)``, else on with the next call (``if (!p)`` without an IS_ERR lets an
        ERR_PTR through). No reference is taken: the pointer is borrowed, valid only while something keeps the
        object alive (take one with ``kref_get``/``dma_fence_get_rcu`` in the branch)."""
        self._pointer(p, None)
        what = text or f"READ_ONCE({p.name})"
        branches = [(p.points_to(obj), label) for obj, label in cases.items()]
        if null is not None:
            branches.append((p.points_to(None), null))
        if err is not None:
            self._lab(err)  # resolved even where no ERR_PTR is ever stored (the branch is then never taken)
            if self._has_err(p):
                branches.append((p.points_to(ERR_PTR), err))
        for obj in cases:
            self._pointer(p, obj)
        if not branches:
            raise ModelError(f"thread {self.thread}: ptr_switch({p.name}): give cases or null")
        self._add(Ins(what, switch=[(cond, self._lab(label)) for cond, label in branches], owner=self.owner))

    def ptr_use(self, p: Pointer, what: str = "") -> None:
        """A dereference through the pointer (``p->field``): of NULL it is an oops, of a freed target a
        use-after-free."""
        self._pointer(p, None)
        ins = Ins(what or f"{p.name}->...", owner=self.owner)
        ins.checks.append(("null-deref", p.points_to(None), f"{p.name} is NULL: a NULL pointer dereference"))
        if self._has_err(p):
            ins.checks.append(("null-deref", p.points_to(ERR_PTR), f"{p.name} is an ERR_PTR: an error pointer "
                               "dereference (the code checks for NULL, not IS_ERR)"))
        for t in p.targets:
            probe = Ins("")
            self._deref(probe, t, p.points_to(t))
            ins.checks.extend(probe.checks)
        self._add(ins)

    def dma_fence_get_rcu_safe(self, p: Pointer, cases: dict[KObject, str] | None = None, *, null: str | None = None,
                               var: str = "fence") -> Value:
        """``fence = dma_fence_get_rcu_safe(&p)``: under rcu_read_lock, a reference to whatever fence ``p`` points
        at (its retry loop makes the read and the get one consistent step); branch to ``cases[fence]``, to
        ``null`` when it is NULL, else on. Returns the fence (a ``Value``: ``k.dma_fence_put(fence)``)."""
        self._pointer(p, None)
        cases = cases or {}
        for obj in cases:
            self._pointer(p, obj)
        rcu = self.b.counter(self.b.rcu, self.me, "rcu")
        self.b.uses_grace()
        ins = Ins(f"{var} = dma_fence_get_rcu_safe(&{p.name})", owner=self.owner,
                  switch=[(p.points_to(obj), self._lab(label)) for obj, label in cases.items()]
                  + ([(p.points_to(None), self._lab(null))] if null is not None else []))
        ins.checks.append(("use-after-free", rcu == 0, f"{self.me} calls dma_fence_get_rcu_safe() outside "
                           "rcu_read_lock()"))
        for obj in p.targets:
            self._take_ref(ins, obj, p.points_to(obj))
        val = self._value(p, var, ins)
        self._add(ins)
        return val

    def dma_map_sgtable(self, dm: DmaMapping, dir: str = "DMA_BIDIRECTIONAL", *, fail: str | None = None) -> None:  # noqa: A002
        """``dma_map_sgtable(dev, sgt, dir, 0)``: map for the device (``fail``: -ENOMEM and friends); mapping
        again without an unmap leaks the first mapping."""
        self._dma(dm, dir)
        ins = Ins(f"dma_map_sgtable({dm.name}, {dir})", owner=self.owner, effects=[assign(dm.v, dir)])
        ins.checks.append(("dma-api", dm.mapped, f"{dm.name} is mapped again while still mapped (the first mapping "
                           "leaks)"))
        if fail:
            ins.alts.append(Alt("err", lift(True), [], self._lab(fail), f"{ins.text} -> error"))
        self._add(ins)

    def dma_unmap_sgtable(self, dm: DmaMapping, dir: str = "DMA_BIDIRECTIONAL") -> None:  # noqa: A002
        """``dma_unmap_sgtable(dev, sgt, dir, 0)``: with the direction it was mapped with."""
        self._dma(dm, dir)
        ins = Ins(f"dma_unmap_sgtable({dm.name}, {dir})", owner=self.owner, effects=[assign(dm.v, "UNMAPPED")])
        ins.checks.append(("dma-api", ~dm.mapped, f"{dm.name} is not mapped (DMA-API: device driver tries to free "
                           "DMA memory it has not allocated)"))
        ins.checks.append(("dma-api", dm.mapped & (dm.v != dir), f"{dm.name} is unmapped with {dir}, not the "
                           "direction it was mapped with (DMA-API: frees DMA memory with different direction)"))
        self._add(ins)

    def dma_sync_sgtable_for_cpu(self, dm: DmaMapping, dir: str = "DMA_BIDIRECTIONAL") -> None:  # noqa: A002
        self._dma_sync(dm, dir, "cpu")

    def dma_sync_sgtable_for_device(self, dm: DmaMapping, dir: str = "DMA_BIDIRECTIONAL") -> None:  # noqa: A002
        self._dma_sync(dm, dir, "device")

    def _dma_sync(self, dm: DmaMapping, dir: str, to: str) -> None:  # noqa: A002
        self._dma(dm, dir)
        ins = Ins(f"dma_sync_sgtable_for_{to}({dm.name}, {dir})", owner=self.owner)
        ins.checks.append(("dma-api", ~dm.mapped, f"{dm.name} is synced while not mapped"))
        ins.checks.append(("dma-api", dm.mapped & (dm.v != dir) & (dm.v != "DMA_BIDIRECTIONAL"),
                           f"{dm.name} is synced with {dir}, not the direction it was mapped with"))
        self._add(ins)

    def _dma(self, dm: DmaMapping, dir: str) -> None:  # noqa: A002
        if not isinstance(dm, DmaMapping) or dm not in self.b.d.dma_mappings:
            raise ModelError(f"thread {self.thread}: {dm!r} is not a DMA mapping of this driver (driver.dma_mapping)")
        if dir not in DMA_DIRECTIONS:
            raise ModelError(f"thread {self.thread}: DMA direction must be one of {', '.join(DMA_DIRECTIONS)}, "
                             f"got {dir!r}")

    def _pointer(self, p: Pointer, obj: KObject | ErrPtr | None) -> None:
        if not isinstance(p, Pointer) or p not in self.b.d.pointers:
            raise ModelError(f"thread {self.thread}: {p!r} is not a pointer declared on this driver")
        if obj is not None and obj is not ERR_PTR and obj not in p.targets:
            raise ModelError(f"thread {self.thread}: {p.name} cannot point at {getattr(obj, 'name', obj)!r} "
                             f"(its targets: {', '.join(t.name for t in p.targets)})")

    def fd_install(self, slot: Slot) -> None:
        self.publish(slot, f"fd_install({slot.name}, {slot.obj.name})")

    def lookup(self, slot: Slot, *, fail: str, text: str = "") -> None:
        """Find the object in ``slot`` and take a reference (fget(fd), idr_find + kref_get under the lock);
        an empty slot is the error return (-EBADF, -ENOENT)."""
        self._slot(slot, read=True)
        obj = slot.obj
        ins = Ins(text or f"{obj.name} = {_LOOKUP[slot.kind]}({slot.name})", owner=self.owner, guard=slot.v == 1)
        self._deref(ins, obj, slot.v == 1)
        if obj.refcounted:
            self._take_ref(ins, obj)
        what = text or f"{_LOOKUP[slot.kind]}({slot.name})"
        ins.alts.append(Alt("empty", slot.v == 0, [], self._lab(fail), f"{what} -> not found"))
        self._add(ins)

    def peek(self, slot: Slot, *, fail: str, text: str = "") -> None:
        """Find the object in ``slot`` without taking a reference (idr_find, list walk): the pointer is
        borrowed, valid only while something else keeps the object alive."""
        self._slot(slot, read=True)
        ins = Ins(text or f"{slot.obj.name} = {_PEEK[slot.kind]}({slot.name})", owner=self.owner, guard=slot.v == 1)
        self._deref(ins, slot.obj, slot.v == 1)
        what = text or f"{_PEEK[slot.kind]}({slot.name})"
        ins.alts.append(Alt("empty", slot.v == 0, [], self._lab(fail), f"{what} -> NULL"))
        self._add(ins)

    def use_slot(self, slot: Slot, what: str = "") -> None:
        """Dereference the pointer in ``slot`` without checking it (``dentry->d_fsdata->...``): an empty
        slot is a NULL pointer dereference."""
        self._slot(slot, read=True)
        ins = Ins(what or f"{slot.name}->...", owner=self.owner)
        ins.checks.append(("null-deref", slot.v == 0, f"{slot.name} is not set yet: a NULL pointer dereference"))
        self._deref(ins, slot.obj, slot.v == 1)
        self._add(ins)

    def unpublish(self, slot: Slot, *, fail: str | None = None, text: str = "") -> None:
        """Take the object out of ``slot`` (idr_remove, list_del, close_fd): its reference moves to the caller."""
        self._slot(slot)
        obj = slot.obj
        held = self.b.held(self.owner, obj)
        # with fail= the caller checks; without it the code assumes the entry is there: a list_del of an
        # unlisted entry corrupts the list (KOBJ-4), any other removal of an absent entry hands back nothing
        ins = Ins(text or f"{_REMOVE[slot.kind]}({slot.name})", owner=self.owner,
                  guard=slot.v == 1 if fail else lift(True))
        if not fail and slot.kind == "list":
            ins.checks.append(("list-del-unlisted", slot.v == 0, f"{slot.name} does not hold {obj.name}: list_del of "
                               "an entry that is not on the list"))
        if slot.holds_ref:  # (effects apply in order: read the slot before it is emptied)
            ins.effects.append(assign(held, ite(slot.v == 0, held, ite(held < obj.max_refs, held + 1, held))))
            ins.checks.append(("kref-overflow", held >= obj.max_refs, f"{self.owner} holds more references to "
                               f"{obj.name} than the model tracks ({obj.max_refs})"))
        ins.effects.append(assign(slot.v, 0))
        if fail:  # without it the caller knows the object is there
            ins.alts.append(Alt("empty", slot.v == 0, [], self._lab(fail), f"{ins.text} -> not found"))
        self._add(ins)

    def close(self, slot: Slot) -> None:
        """Userspace ``close(fd)``: the fd's reference is dropped (the file's release runs on the last one)."""
        end = self._fresh("closed")
        self.unpublish(slot, fail=end, text=f"close({slot.name})")
        self.kref_put(slot.obj, text=f"fput({slot.obj.name}) (close)")
        self.label(end)

    # ---- locks ---------------------------------------------------------------
    def mutex_lock(self, lk: Lock, *, interruptible: bool = False, fail: str | None = None, text: str = "") -> None:
        self._no_fail_unless(interruptible, fail, "mutex_lock", "interruptible=True (mutex_lock_interruptible)")
        self._lock(lk, sleeps=True, text=text or f"mutex_lock{'_interruptible' if interruptible else ''}({lk.name})",
                   fail=fail, fail_text="-EINTR")

    def mutex_lock_interruptible(self, lk: Lock, *, fail: str) -> None:
        self.mutex_lock(lk, interruptible=True, fail=fail)

    def mutex_trylock(self, lk: Lock, *, fail: str) -> None:
        self._lock(lk, sleeps=False, text=f"mutex_trylock({lk.name})", fail=fail, fail_text="busy", trylock=True)

    def mutex_unlock(self, lk: Lock) -> None:
        self._unlock(lk, f"mutex_unlock({lk.name})")

    def spin_lock(self, lk: Lock) -> None:
        self._lock(lk, sleeps=False, text=f"spin_lock({lk.name})")

    def spin_lock_irqsave(self, lk: Lock) -> None:
        self._lock(lk, sleeps=False, text=f"spin_lock_irqsave({lk.name})", irqs=True)

    spin_lock_irq = spin_lock_irqsave

    def spin_lock_bh(self, lk: Lock) -> None:
        self._lock(lk, sleeps=False, text=f"spin_lock_bh({lk.name})", bh=True)

    def spin_unlock(self, lk: Lock) -> None:
        self._unlock(lk, f"spin_unlock({lk.name})")

    def spin_unlock_irqrestore(self, lk: Lock) -> None:
        self._unlock(lk, f"spin_unlock_irqrestore({lk.name})", irqs=True)

    def spin_unlock_irq(self, lk: Lock) -> None:
        """Unlock and enable interrupts unconditionally (unlike irqrestore: an outer irq-off section ends too)."""
        self._unlock(lk, f"spin_unlock_irq({lk.name})", irqs=True, irq_on=True)

    def spin_unlock_bh(self, lk: Lock) -> None:
        self._unlock(lk, f"spin_unlock_bh({lk.name})", bh=True)

    def down_read(self, sem: RwSem, text: str = "") -> None:
        """``down_read``: shared with other readers; blocks while a writer holds it or is queued for it."""
        self._rwsem(sem)
        rd = self.b.reader(sem, self.me)
        text = text or f"down_read({sem.name})"
        ins = Ins(text, owner=self.owner, guard=(sem.holder == "FREE") & (sem.waiter == "FREE"),
                  effects=[assign(rd, 1)], acquires=(sem.name,), take=sem, waits_sem=(sem, False))
        self.b.note_acquire(self, ins, sem, False, False)
        ins.checks.append(("driver-assert", rd == 1, f"{self.me} takes {sem.name} for read twice (nested readers "
                           "deadlock behind a queued writer; lockdep: recursive locking)"))
        self._sleep_check(ins, text)
        self._add(ins)

    def up_read(self, sem: RwSem, text: str = "") -> None:
        self._rwsem(sem)
        rd = self.b.reader(sem, self.me)
        ins = Ins(text or f"up_read({sem.name})", owner=self.owner, effects=[assign(rd, 0)], drop=sem)
        ins.checks.append(("unlock-not-held", rd == 0, f"{self.me} does not hold {sem.name} for read"))
        self._add(ins)

    def down_write(self, sem: RwSem, text: str = "") -> None:
        """``down_write``: queue as the writer (new readers now wait), then take it once every reader and
        the previous writer left."""
        self._rwsem(sem)
        text = text or f"down_write({sem.name})"
        queue = Ins(f"{text}: queue on the wait list", owner=self.owner, guard=sem.waiter == "FREE",
                    effects=[assign(sem.waiter, self.me)])
        self._sleep_check(queue, text)
        self._add(queue)
        readers = [v == 0 for t, v in self.b.readers(sem).items()]
        ins = Ins(text, owner=self.owner, guard=conj(sem.holder == "FREE", *readers),
                  effects=[assign(sem.holder, self.me), assign(sem.waiter, "FREE")], acquires=(sem.name,), take=sem,
                  waits_sem=(sem, True))
        self.b.note_acquire(self, ins, sem, False, False)
        self._add(ins)

    def up_write(self, sem: RwSem, text: str = "") -> None:
        self._rwsem(sem)
        self._unlock(sem, text or f"up_write({sem.name})")

    def mmap_read_lock(self, mm: RwSem | None = None) -> None:
        self.down_read(self._mm(mm), f"mmap_read_lock({self._mm(mm).name})")

    def mmap_read_unlock(self, mm: RwSem | None = None) -> None:
        self.up_read(self._mm(mm), f"mmap_read_unlock({self._mm(mm).name})")

    def mmap_write_lock(self, mm: RwSem | None = None) -> None:
        self.down_write(self._mm(mm), f"mmap_write_lock({self._mm(mm).name})")

    def mmap_write_unlock(self, mm: RwSem | None = None) -> None:
        self.up_write(self._mm(mm), f"mmap_write_unlock({self._mm(mm).name})")

    def _mm(self, mm: RwSem | None) -> RwSem:
        mm = mm or self.b.d.mmap_lock
        if mm is None:
            raise ModelError(f"thread {self.thread}: mmap_*_lock needs the process's mm (declare it with driver.mm())")
        return mm

    def _rwsem(self, sem: RwSem) -> None:
        if not isinstance(sem, RwSem) or sem not in self.b.locks:
            raise ModelError(f"thread {self.thread}: {getattr(sem, 'name', sem)!r} is not an rwsem of this driver "
                             "(driver.rwsem(name))")

    def lockdep_assert_held(self, lk: Lock | Resv, text: str = "") -> None:
        """``lockdep_assert_held(lk)``; a dma_resv is its ww_mutex (``dma_resv_assert_held``)."""
        if isinstance(lk, Resv):
            self.dma_resv_assert_held(lk, text)
            return
        if not isinstance(lk, Lock):
            raise ModelError(f"thread {self.thread}: lockdep_assert_held() takes a lock of this driver (a mutex, a "
                             f"spinlock or a resv), got {type(lk).__name__}")
        ins = Ins(text or f"lockdep_assert_held({lk.name})", owner=self.owner)
        ins.checks.append(("lockdep-assert-held", lk.holder != self.me, f"{self.me} does not hold {lk.name}"))
        self._add(ins)

    def dma_resv_assert_held(self, r: Resv, text: str = "") -> None:
        """``dma_resv_assert_held(obj)``: the caller holds the reservation lock (lockdep)."""
        if not isinstance(r, Resv):
            raise ModelError(f"thread {self.thread}: dma_resv_assert_held() takes a resv, got {type(r).__name__}")
        self._resv_use(r)
        self.lockdep_assert_held(r.lock, text or f"dma_resv_assert_held({r.name})")

    def rcu_read_lock(self) -> None:
        v = self.b.counter(self.b.rcu, self.me, "rcu")
        self.b.uses_grace()
        self._add(Ins("rcu_read_lock()", effects=[assign(v, ite(v < 3, v + 1, v))], owner=self.owner))

    def rcu_read_unlock(self) -> None:
        v = self.b.counter(self.b.rcu, self.me, "rcu")
        self._add(Ins("rcu_read_unlock()", effects=[assign(v, ite(v > 0, v - 1, 0))], owner=self.owner))

    def might_sleep(self, text: str = "might_sleep()") -> None:
        """Any call that may sleep: msleep, wait_event, flush_work, synchronize_rcu, ..."""
        ins = Ins(text, owner=self.owner)
        self._sleep_check(ins, text)
        self._add(ins)

    msleep = might_sleep

    def copy_from_user(self, text: str = "copy_from_user()", *, fail: str | None = None) -> None:
        """A user-memory access: it may fault, which sleeps and takes mmap_lock; -EFAULT to ``fail``. With
        ``d.mm()`` the fault takes that rwsem for read, so it blocks behind a writer (held or queued)."""
        mm = self.b.d.mmap_lock
        if mm is None:
            ins = Ins(text, owner=self.owner, acquires=("mmap_lock",))
        else:
            ins = Ins(text, owner=self.owner, acquires=(mm.name,), guard=(mm.holder == "FREE") & (mm.waiter == "FREE"),
                      waits_sem=(mm, False))
        self._sleep_check(ins, text)
        if fail:
            ins.alts.append(Alt("efault", lift(True), [], self._lab(fail), f"{text} -> -EFAULT"))
        self._add(ins)

    def copy_to_user(self, text: str = "copy_to_user()", *, fail: str | None = None) -> None:
        self.copy_from_user(text, fail=fail)

    def may_goto(self, name: str, text: str) -> None:
        """An outcome the program does not control (userspace passed a bad argument, a device error):
        the checker explores both jumping to ``name`` and going on."""
        ins = Ins(f"{text}: no", owner=self.owner)  # the trace says which way it went, either way
        ins.alts.append(Alt("yes", lift(True), [], self._lab(name), f"{text}: yes"))
        self._add(ins)

    def queue_work(self, work: str, *, pass_refs: tuple[KObject, ...] = (), text: str = "") -> None:
        """``queue_work``: the work item ``work`` (a ``Driver.work`` thread) will run in process context;
        ``pass_refs``: references the caller hands to it (container_of(work) holds them until it runs)."""
        flag = self.b.work_flag(work)
        ins = Ins(text or f"queue_work({work})", effects=[assign(flag, 1)], owner=self.owner)
        for obj in pass_refs:
            mine, theirs = self.b.held(self.owner, obj), self.b.held(work, obj)
            ins.checks.append(("kref-put-noref", mine == 0, f"{self.owner} hands {work} a reference to {obj.name} it "
                               "does not hold"))
            ins.effects += [assign(mine, ite(mine > 0, mine - 1, 0)),
                            assign(theirs, ite(theirs < obj.max_refs, theirs + 1, theirs))]
        self._add(ins)

    def work_starts(self, work: str, text: str = "") -> None:
        """(the first step of a work item: it runs once queued; a ``return`` in its body ends the run)"""
        flag, running = self.b.work_flag(work), self.b.work_running(work)
        self._work_end = self._lab(self._fresh("work_done"))
        self._add(Ins(text or f"{work}() runs", guard=flag == 1, effects=[assign(flag, 0), assign(running, 1)],
                      owner=self.owner))

    def work_ends(self, work: str) -> None:
        end = self._work_end
        self._work_end = None
        self._pending_labels.append(end)
        self._add(Ins(f"{work}() returns", effects=[assign(self.b.work_running(work), 0)], owner=self.owner,
                      ends_work=work))

    def flush_work(self, work: str, *, irqsafe: bool = False, cancel: bool = False, text: str = "",
                   spins: bool = False) -> None:
        """Wait until the work item (or timer callback) ``work`` has run and is idle (flush_work); with
        ``cancel`` a pending run is dropped and only a running one is waited for (cancel_work_sync). It
        sleeps; ``spins`` (timer_delete_sync) it busy-waits instead, which interrupt context may not do
        for a timer that is not TIMER_IRQSAFE (``irqsafe``)."""
        flag, running = self.b.work_flag(work), self.b.work_running(work)
        idle = (running == 0) if cancel else (flag == 0) & (running == 0)
        ins = Ins(text or f"{'cancel_work_sync' if cancel else 'flush_work'}({work})", owner=self.owner, guard=idle,
                  waits_work=work, acquires=(work_map(work, work in self.b.d.timers),))
        if cancel:
            ins.effects.append(assign(flag, 0))
        if spins:  # del_timer_sync(): WARN_ON(in_hardirq() && !TIMER_IRQSAFE); from a timer it can wait on itself
            if not irqsafe and self.context in ATOMIC_CONTEXTS:
                ins.checks.append(("sleep-in-atomic", lift(True), f"{ins.text} waits for a timer callback in "
                                   f"{self.context} context (only a TIMER_IRQSAFE timer may be deleted there)"))
        elif not irqsafe:
            self._sleep_check(ins, ins.text)
        self._add(ins)

    def cancel_work(self, work: str, *, pending: str | None = None) -> None:
        """``cancel_work`` / ``cancel_delayed_work``: drop a queued run without waiting for a running one;
        ``pending``: the label it goes to when the run was still queued (the call returned true)."""
        flag = self.b.work_flag(work)
        ins = Ins(f"cancel_work({work})", effects=[assign(flag, 0)], owner=self.owner)
        if pending is not None:
            ins.branch = (flag == 1, self._lab(pending))
        self._add(ins)

    def queue_delayed_work(self, work: str, *, pass_refs: tuple[KObject, ...] = ()) -> None:
        """``queue_delayed_work`` / ``mod_delayed_work`` / ``schedule_delayed_work``: the work item runs later."""
        self.queue_work(work, pass_refs=pass_refs, text=f"queue_delayed_work({work})")

    mod_delayed_work = queue_delayed_work

    def timer_delete_sync(self, timer: str, *, irqsafe: bool = False) -> None:
        """``timer_delete_sync``: deactivate the timer and wait for a running callback; legal in IRQ
        context only for a TIMER_IRQSAFE timer (``d.timer(name, irqsafe=True)``)."""
        irqsafe = irqsafe or self.b.d.timers.get(timer, False)
        self.flush_work(timer, irqsafe=irqsafe, cancel=True, text=f"timer_delete_sync({timer})", spins=True)

    def mod_timer(self, timer: str, *, pass_refs: tuple[KObject, ...] = ()) -> None:
        """``mod_timer`` / ``add_timer``: the timer callback will run (in softirq context)."""
        self._timer(timer)
        self.queue_work(timer, pass_refs=pass_refs, text=f"mod_timer({timer})")

    add_timer = mod_timer

    def timer_delete(self, timer: str) -> None:
        """``timer_delete`` (del_timer): deactivate a pending timer; a running callback goes on unwaited."""
        self._timer(timer)
        flag = self.b.work_flag(timer)
        self._add(Ins(f"timer_delete({timer})", effects=[assign(flag, 0)], owner=self.owner))

    def irq_work_queue(self, work: str, *, pass_refs: tuple[KObject, ...] = ()) -> None:
        """``irq_work_queue``: the irq_work callback will run in hard IRQ context."""
        self.queue_work(work, pass_refs=pass_refs, text=f"irq_work_queue({work})")

    def irq_work_sync(self, work: str) -> None:
        """``irq_work_sync``: wait until the irq_work callback is idle."""
        self.flush_work(work, text=f"irq_work_sync({work})")

    def _timer(self, timer: str) -> None:
        if timer not in self.b.d.timers:
            raise ModelError(f"thread {self.thread}: {timer!r} is not a timer (declare it with @driver.timer)")

    def dma_buf_pin(self, att: Attachment, *, fail: str | None = None) -> None:
        """``dma_buf_pin``: a dynamic importer pins the backing storage (DYN-2: with the resv held)."""
        buf = att.buf
        pins = self.b.pin_count(att)
        ins = Ins(f"dma_buf_pin({att.name})", owner=self.owner)
        self._deref(ins, buf)
        assert buf.resv is not None
        ins.checks.append(("resv-held", buf.resv.lock.holder != self.me, f"{self.me} pins without holding {buf.resv.name}"))
        ins.effects.append(assign(pins, ite(pins < 2, pins + 1, pins)))
        if fail:
            ins.alts.append(Alt("err", lift(True), [], self._lab(fail), "dma_buf_pin() -> error"))
        self._add(ins)
        self._op(buf, "pin", self._lab(fail) if fail else None, (assign(pins, ite(pins > 0, pins - 1, 0)),),
                 fails=True, att=att)

    def dma_buf_move_notify(self, buf: DmaBuf) -> None:
        """``dma_buf_move_notify``: the exporter (holding the resv, MIG-5/DYN-8) tells every dynamic attachment
        that its mapping is going away; each importer's move_notify body runs here, under that resv."""
        assert buf.resv is not None
        ins = Ins(f"dma_buf_move_notify({buf.name})", owner=self.owner)
        self._deref(ins, buf)
        ins.checks.append(("resv-held", buf.resv.lock.holder != self.me, f"{self.me} calls dma_buf_move_notify "
                           f"without holding {buf.resv.name} (dma_resv_assert_held)"))
        self._add(ins)
        fences = {f.name: f for f in self.b.fences}
        for att in self.b.attachments:  # every dynamic mapping is stale from here (DYN-7) until remapped
            if att.buf is buf and att.dynamic:
                for a, fname in sorted(self.b.plan.covered):  # the jobs this move will wait for
                    flag = buf.resv.fences.get(fname)
                    if a == att.name and flag is not None:
                        cov = self.b.covered(att, fences[fname])
                        pending = (flag == 1) & (fences[fname].signaled_v == 0)
                        ins.effects.insert(0, assign(cov, ite(att.v == "MAPPED", pending, cov)))
                ins.effects.append(assign(att.v, ite(att.v == "MAPPED", "STALE", att.v)))
        for att in self.b.attachments:
            if att.buf is not buf or att.move_notify is None:
                continue
            skip = self._fresh(f"not_attached_{att.name}")
            self._add(Ins(f"list_for_each_entry(attach): {att.name} attached?", branch=(att.v == "NONE",
                          self._lab(skip)), owner=self.owner))
            body = att.move_notify
            args = (att,) if _takes_arg(body) else ()  # move_notify(struct dma_buf_attachment *attach)
            self._inline(f"{att.name}.move_notify", lambda body=body, args=args: body(self, *args))
            self.label(skip)

    def dma_buf_unpin(self, att: Attachment) -> None:
        buf = att.buf
        pins = self.b.pin_count(att)
        ins = Ins(f"dma_buf_unpin({att.name})", owner=self.owner)
        self._deref(ins, buf)
        assert buf.resv is not None
        ins.checks.append(("resv-held", buf.resv.lock.holder != self.me, f"{self.me} unpins without holding "
                           f"{buf.resv.name}"))
        ins.checks.append(("pin-balance", pins == 0, f"{att.name} is not pinned: the exporter's pin count underflows"))
        ins.effects.append(assign(pins, ite(pins > 0, pins - 1, 0)))
        self._add(ins)
        self._op(buf, "unpin", att=att)

    def dma_resv_trylock(self, r: Resv, *, fail: str | None = None) -> None:
        """``dma_resv_trylock``; without ``fail`` the caller knows nobody else can hold it (a fresh object)."""
        self._resv_use(r)
        self._lock(r.lock, sleeps=False, text=f"dma_resv_trylock({r.name})", fail=fail, fail_text="busy", trylock=True)

    # ---- fences ----------------------------------------------------------------
    def dma_fence_init(self, f: Fence, text: str = "") -> None:
        """``dma_fence_init``: the fence is live, unsignaled, with one reference owned by the caller."""
        self._obj(f)
        held = self.b.held(self.owner, f)
        ins = Ins(text or f"dma_fence_init({f.name})", owner=self.owner, allocates=f)
        ins.checks.append(("kref-leak", (f.life == LIVE) & (held > 0),
                           f"{f.name} is re-initialised while {self.owner} still holds a reference"))
        ins.effects += [assign(f.life, LIVE), assign(f.count, 1), assign(held, 1), assign(f.signaled_v, 0),
                        assign(f.error_v, 0)]
        self._add(ins)

    def dma_fence_set_error(self, f: Fence, errno: str = "-EIO") -> None:
        ins = Ins(f"dma_fence_set_error({f.name}, {errno})", owner=self.owner)
        self._deref(ins, f)
        ins.checks.append(("fence-error-after-signal", f.signaled_v == 1,
                           f"{f.name} is already signaled: its error is frozen (WARN_ON in dma_fence_set_error)"))
        ins.effects.append(assign(f.error_v, ite(f.signaled_v == 1, f.error_v, 1)))
        self._add(ins)

    @core_call
    def dma_fence_signal(self, f: Fence) -> None:
        """``dma_fence_signal``: under the fence lock (interrupts off) the fence signals and every armed
        callback runs, in this thread's context; signaling is one-way (a second signal does nothing)."""
        self._obj(f)
        lk = f.lock
        assert lk is not None
        ins = self._lock_ins(lk, f"dma_fence_signal({f.name}): spin_lock_irqsave({lk.name})", irqs=True)
        self._deref(ins, f)
        ins.effects.append(assign(f.signaled_v, 1))
        ins.signals = f
        self._add(ins)
        self._callbacks(f)
        self._unlock(lk, f"dma_fence_signal({f.name}): spin_unlock_irqrestore({lk.name})", irqs=True)

    def dma_fence_wait(self, f: Fence, *, intr: bool = False, fail: str | None = None,
                       timeout: str | None = None) -> None:
        """``dma_fence_wait`` / ``dma_fence_wait_timeout``: sleep until the fence signals (interruptible:
        -ERESTARTSYS to ``fail``; a finite timeout: 0 to ``timeout`` while it is still unsignaled).
        dma_fence_default_wait() first enables signaling (the fence's enable_signaling op, under its lock)."""
        self._obj(f)
        enable = f.enable_signaling
        if enable is not None:
            lk = f.lock
            assert lk is not None
            self._lock(lk, sleeps=False, text=f"dma_fence_wait({f.name}): spin_lock_irqsave({lk.name})", irqs=True)
            self._enable_signaling(f, enable)
            self._unlock(lk, f"spin_unlock_irqrestore({lk.name})", irqs=True)
        ins = Ins(f"dma_fence_wait({f.name})", owner=self.owner, guard=f.signaled_v == 1, waits_fence=f)
        self._deref(ins, f)
        self._fence_wait(ins, f.signaled_v == 0, intr, fail, "a fence", timeout)

    def dma_fence_is_signaled(self, f: Fence, *, signaled: str, text: str = "") -> None:
        """``if (dma_fence_is_signaled(f)) goto signaled;``: a container (array, chain node) counts as signaled
        once its fences are (its ops->signaled()); a borrowed read of the fence, which must still be alive."""
        self._obj(f)
        ins = Ins(text or f"dma_fence_is_signaled({f.name})", owner=self.owner,
                  branch=(self._signaled(f), self._lab(signaled)))
        self._deref(ins, f)
        self._add(ins)

    @staticmethod
    def _signaled(f: Fence) -> Expr:
        """What ops->signaled() reports: the fence's own bit, or for a container every fence it waits for."""
        implied = conj(*[g.signaled for g in f.implied_by]) if f.implied_by else None
        return disj(f.signaled, implied) if implied is not None else f.signaled

    def dma_fence_is_later(self, f1: Fence, f2: Fence, *, later: str, text: str = "") -> None:
        """``if (dma_fence_is_later(f1, f2)) goto later;``: f1's seqno is after f2's on their timeline. Fences of
        different contexts are not ordered: WARN_ON(f1->context != f2->context) and false. Both are read, so
        both must be alive."""
        for f in (f1, f2):
            self._obj(f)
        ins = Ins(text or f"dma_fence_is_later({f1.name}, {f2.name})", owner=self.owner)
        self._deref(ins, f1)
        self._deref(ins, f2)
        if f1.context != f2.context:
            ins.checks.append(("driver-assert", lift(True), f"{f1.name} and {f2.name} are on different timelines "
                               f"({f1.context}, {f2.context}): WARN_ON(f1->context != f2->context)"))
        elif f1.seqno > f2.seqno:
            ins.goto = self._lab(later)
        self._add(ins)

    def dma_fence_get_status(self, f: Fence, *, pending: str | None = None, error: str | None = None,
                             text: str = "") -> None:
        """``status = dma_fence_get_status(f)`` (under the fence lock, interrupts off): 0 while it has not
        signaled (to ``pending``), the error set before it signaled, < 0 (to ``error``), or 1, signaled
        without error (falls through). A container counts as signaled once its fences are (ops->signaled).
        A label left out falls through for that outcome too, as a caller that only tests ``status < 0``."""
        self._obj(f)
        lk = f.lock
        assert lk is not None
        done = self._signaled(f)
        ins = self._lock_ins(lk, text or f"dma_fence_get_status({f.name})", irqs=True, keep=False)
        self._deref(ins, f)
        if pending:
            ins.switch.append((~done, self._lab(pending)))
        if error:
            ins.switch.append((done & (f.error_v == 1), self._lab(error)))
        self._add(ins)

    def dma_fence_enable_sw_signaling(self, f: Fence, text: str = "") -> None:
        """``dma_fence_enable_sw_signaling(f)``: under the fence lock (interrupts off) the fence's
        enable_signaling op runs, once and only while it has not signaled (FENCE-8); a container arms its
        callbacks on its fences here, as the first waiter would."""
        self._obj(f)
        lk = f.lock
        assert lk is not None
        enable = f.enable_signaling
        label = text or f"dma_fence_enable_sw_signaling({f.name})"
        ins = self._lock_ins(lk, label if enable is None else f"{label}: spin_lock_irqsave({lk.name})", irqs=True,
                             keep=enable is not None)
        self._deref(ins, f)
        self._add(ins)
        if enable is not None:
            self._enable_signaling(f, enable)
            self._unlock(lk, f"{label}: spin_unlock_irqrestore({lk.name})", irqs=True)

    def dma_fence_add_callback(self, f: Fence, body: Callable[[Code], None], *, fail: str | None = None,
                               name: str = "", pass_refs: tuple[KObject, ...] = ()) -> None:
        """``dma_fence_add_callback(f, &cb, func)``: ``body`` will run inside dma_fence_signal(f), with the
        fence lock held; -ENOENT (to ``fail``; ignored without it) if the fence already signaled.
        ``pass_refs``: references the caller hands to the callback (it drops them when it runs).
        The first callback enables signaling: the fence's enable_signaling op runs under its lock (FENCE-8)."""
        self._obj(f)
        cb = self.b.callback(f, name or getattr(body, "__name__", "cb"), body)
        lk = f.lock
        assert lk is not None
        text = f"dma_fence_add_callback({f.name}, {cb.name})"
        enable = f.enable_signaling
        ins = self._lock_ins(lk, text if enable is None else f"{text}: spin_lock_irqsave({lk.name})", irqs=True,
                             keep=enable is not None)
        self._deref(ins, f)
        ins.checks.append(("fence-cb-twice", cb.armed == 1, f"{cb.name} is already on a fence (FENCE-6)"))
        if enable is not None:
            self._add(ins)
            self._enable_signaling(f, enable)
            ins = Ins(f"{text}: list_add; spin_unlock_irqrestore({lk.name})", owner=self.owner, drop=lk)
            ins.effects.append(assign(lk.holder, "FREE"))
            v = self.b.counter(self.b.irqoff, self.me, "irqoff")
            ins.effects.append(assign(v, ite(v > 0, v - 1, 0)))
        armed_ok = f.signaled_v == 0
        ins.effects.append(assign(cb.armed, ite(armed_ok, 1, cb.armed)))
        for obj in pass_refs:
            mine, theirs = self.b.held(self.owner, obj), self.b.held(cb.name, obj)
            ins.checks.append(("kref-put-noref", armed_ok & (mine == 0),
                               f"{self.owner} hands {cb.name} a reference to {obj.name} it does not hold"))
            ins.effects += [assign(mine, ite(armed_ok & (mine > 0), mine - 1, mine)),
                            assign(theirs, ite(armed_ok & (theirs < obj.max_refs), theirs + 1, theirs))]
        if fail:
            ins.branch = (f.signaled_v == 1, self._lab(fail))
        self._add(ins)

    def _enable_signaling(self, f: Fence, enable: Body) -> None:
        """Under the fence lock: the first to ask runs the fence's enable_signaling op (FENCE-8)."""
        with self.if_((f.enabled_v == 0) & (f.signaled_v == 0), text=f"{f.name}: signaling enabled?"):
            self._add(Ins(f"{f.name}->ops->enable_signaling()", effects=[assign(f.enabled_v, 1)]))
            self._inline(f"{f.name}.enable_signaling", lambda: enable(self))

    def dma_fence_signal_locked(self, f: Fence) -> None:
        """``dma_fence_signal_locked``: the caller holds the fence lock; callbacks run here, under it."""
        self._obj(f)
        lk = f.lock
        assert lk is not None
        ins = Ins(f"dma_fence_signal_locked({f.name})", owner=self.owner)
        self._deref(ins, f)
        ins.checks.append(("lockdep-assert-held", lk.holder != self.me, f"{self.me} does not hold {lk.name}"))
        ins.effects.append(assign(f.signaled_v, 1))
        ins.signals = f
        self._add(ins)
        self._callbacks(f)

    def dma_fence_remove_callback(self, f: Fence, body: Callable[[Code], None], *, name: str = "",
                                  fail: str | None = None) -> None:
        """``dma_fence_remove_callback``: false (to ``fail``) when the callback already ran."""
        cb = self.b.callback(f, name or getattr(body, "__name__", "cb"), body)
        lk = f.lock
        assert lk is not None
        ins = self._lock_ins(lk, f"dma_fence_remove_callback({f.name}, {cb.name})", irqs=True, keep=False)
        self._deref(ins, f)
        ins.effects.append(assign(cb.armed, 0))
        if fail:
            ins.branch = (cb.armed == 0, self._lab(fail))
        self._add(ins)

    def dma_fence_begin_signalling(self) -> None:
        """Start of a fence signalling critical section (SIG-1): no allocation, resv lock or fence wait inside."""
        self._signalling += 1
        self._add(Ins("dma_fence_begin_signalling()", owner=self.owner, sig_begin=True))

    def dma_fence_end_signalling(self) -> None:
        if not self._signalling:
            raise ModelError(f"thread {self.thread}: dma_fence_end_signalling() without dma_fence_begin_signalling()")
        self._signalling -= 1
        self._add(Ins("dma_fence_end_signalling()", owner=self.owner, sig_end=True))

    # ---- sync_file -------------------------------------------------------------------
    def dma_fence_array_create(self, arr: Fence, *, fail: str | None = None) -> None:
        """``array = dma_fence_array_create(num, fences, ...)``: a fence array (``d.fence_array(...,
        created=False)``) over the caller's member references, which it takes over; the caller holds the
        array's one reference. On -ENOMEM (``fail``) nothing is taken: the caller still owns the members."""
        members = getattr(arr, "array_members", None)
        if members is None:
            raise ModelError(f"thread {self.thread}: {getattr(arr, 'name', arr)!r} is not a fence_array")
        if arr.live:
            raise ModelError(f"thread {self.thread}: {arr.name} exists from the start; declare it created=False")
        held = self.b.held(self.owner, arr)
        ins = Ins(f"{arr.name} = dma_fence_array_create({', '.join(f.name for f in members)})", owner=self.owner,
                  allocates=arr)
        ins.checks.append(("kref-leak", (arr.life == LIVE) & (held > 0),
                           f"{arr.name} is overwritten while {self.owner} still holds a reference to it"))
        for f in members:
            if getattr(f, "container", False):
                ins.checks.append(("fence-container-nesting", lift(True), f"{arr.name}'s member {f.name} is itself a "
                                   "container (dma_fence_array_init: WARN_ON; flatten with dma_fence_unwrap)"))
        self._take_over(ins, arr, members)
        self._alloc(ins, "GFP_KERNEL")
        if fail:
            ins.alts.append(Alt("enomem", lift(True), [], self._lab(fail), f"{ins.text} -> NULL (-ENOMEM)"))
        self._add(ins)

    def _take_over(self, ins: Ins, container: Fence, members: tuple[Fence, ...]) -> None:
        """A container comes to life with one reference, the caller's, owning the caller's member references."""
        for f in members:
            self._hand_over(ins, f, container.name, f"a reference to {f.name} it does not hold")
        ins.effects += [assign(container.life, LIVE), assign(container.count, 1),
                        assign(self.b.held(self.owner, container), 1)]

    def _chain(self, chain: Fence) -> tuple[Fence, ...]:
        links = getattr(chain, "chain_links", None)
        if links is None:
            raise ModelError(f"thread {self.thread}: {getattr(chain, 'name', chain)!r} is not a fence_chain")
        if chain.live:
            raise ModelError(f"thread {self.thread}: {chain.name} exists from the start; declare it created=False")
        return links

    def dma_fence_chain_alloc(self, chain: Fence, *, fail: str | None = None, text: str = "") -> None:
        """``chain = dma_fence_chain_alloc()``: kmalloc(GFP_KERNEL) of a node (``d.fence_chain(...,
        created=False)``) that is not a fence yet: the caller frees it with ``dma_fence_chain_free`` or gives it
        life with ``dma_fence_chain_init``; forgetting both leaks it."""
        self._chain(chain)
        self.kzalloc(chain, "GFP_KERNEL", fail=fail, initialised=False,
                     text=text or f"{chain.name} = dma_fence_chain_alloc()")

    def dma_fence_chain_free(self, chain: Fence, text: str = "") -> None:
        """``dma_fence_chain_free``: kfree of a node that was never initialised (an error path)."""
        self._chain(chain)
        ins = Ins(text or f"dma_fence_chain_free({chain.name})", owner=self.owner)
        ins.checks.append(("use-after-free", chain.life == LIVE,
                           f"{chain.name} is an initialised fence: only its last dma_fence_put may free it"))
        ins.checks.append(("double-free", (chain.life == FREED) | (chain.life == GRACE),
                           f"{chain.name} is freed a second time"))
        ins.effects += [assign(chain.life, ite(chain.life == ALLOC, FREED, chain.life)),
                        assign(self.b.held(self.owner, chain), 0)]
        self._add(ins)

    def dma_fence_chain_init(self, chain: Fence, text: str = "") -> None:
        """``dma_fence_chain_init(chain, prev, fence, seqno)``: the allocated node becomes a fence with one
        reference, the caller's, and takes over the caller's references to ``prev`` and ``fence``."""
        links = self._chain(chain)
        ins = Ins(text or f"dma_fence_chain_init({chain.name}, {', '.join(f.name for f in links[::-1])})",
                  owner=self.owner)
        ins.checks.append(("use-after-free", chain.life != ALLOC, f"{chain.name} is not a node fresh from "
                           "dma_fence_chain_alloc (never allocated, already initialised, or freed)"))
        if getattr(links[0], "container", False):
            ins.checks.append(("fence-container-nesting", lift(True), f"{chain.name}'s fence {links[0].name} is itself "
                               "a container: a chain node holds a plain fence (flatten with dma_fence_unwrap)"))
        self._take_over(ins, chain, links)
        ins.effects += [assign(chain.signaled_v, 0), assign(chain.error_v, 0)]
        self._add(ins)

    def dma_fence_chain_for_each(self, head: Fence, body: Callable[..., None], text: str = "") -> None:
        """``dma_fence_chain_for_each(iter, head) { body }``: ``iter = dma_fence_get(head)``, then each node of
        the timeline from ``head`` back through its ``prev`` links (a plain fence ends it): ``body(k, node)``
        runs holding the iterator's reference to ``node``, and ``dma_fence_chain_walk()`` takes one to the
        previous node before it drops this one. A body that leaves the loop (``k.goto`` out: a ``break``) still
        holds ``node``'s reference and must ``dma_fence_put`` it. (The walk's garbage collection of signaled
        nodes is not modeled: every node is visited.)"""
        self._obj(head)
        nodes = _chain_nodes(head)
        self.dma_fence_get(head, text or f"dma_fence_chain_for_each(iter, {head.name}): iter = dma_fence_get(head)")
        for i, node in enumerate(nodes):
            self._inline(f"{LOOP_SCOPE}chain.{node.name}", lambda node=node: body(self, node))
            if i + 1 < len(nodes):
                self.dma_fence_get(nodes[i + 1], f"dma_fence_chain_walk({node.name}): prev = "
                                   f"dma_fence_chain_get_prev() ({nodes[i + 1].name})")
            self.dma_fence_put(node, f"dma_fence_chain_walk({node.name}): dma_fence_put(iter)")

    def dma_fence_unwrap_for_each(self, head: Fence, body: Callable[..., None], text: str = "") -> None:
        """``dma_fence_unwrap_for_each(fence, &cursor, head) { body }``: every plain fence inside ``head``,
        looking through chain nodes (each node's fence, back through ``prev``) and arrays (each member):
        ``body(k, fence)`` borrows it while the cursor holds a reference to the chain node it came from
        (``cursor->chain = dma_fence_get(head)``, then dma_fence_chain_walk's get of the previous node and put
        of this one). A ``k.goto`` out of the body (a ``break``) keeps the cursor's reference: drop it with
        ``dma_fence_put`` of the node (the ``head`` itself for a fence that is no chain)."""
        self._obj(head)
        nodes = _chain_nodes(head)
        self.dma_fence_get(head, text or f"dma_fence_unwrap_first({head.name}, &cursor): cursor->chain = "
                           f"dma_fence_get({head.name})")
        for i, node in enumerate(nodes):
            links = getattr(node, "chain_links", None)
            contained = links[0] if links is not None else node  # dma_fence_chain_contained()
            leaves = getattr(contained, "array_members", None) or (contained,)  # dma_fence_array_first/next()
            for leaf in leaves:
                self._inline(f"{LOOP_SCOPE}unwrap.{node.name}.{leaf.name}", lambda leaf=leaf: body(self, leaf))
            if i + 1 < len(nodes):
                self.dma_fence_get(nodes[i + 1], f"dma_fence_unwrap_next(): dma_fence_chain_walk({node.name}): "
                                   f"prev = dma_fence_chain_get_prev() ({nodes[i + 1].name})")
            self.dma_fence_put(node, f"dma_fence_unwrap_next(): dma_fence_chain_walk({node.name}): dma_fence_put()")

    def sync_file_create(self, sf: KObject, *, fail: str | None = None) -> None:
        """``sync_file_create(fence)``: a new file (the caller's reference) holding its own fence reference."""
        f = getattr(sf, "sync_fence", None)
        if f is None:
            raise ModelError(f"thread {self.thread}: {getattr(sf, 'name', sf)!r} is not a sync_file (Driver.sync_file)")
        held, its = self.b.held(self.owner, sf), self.b.held(sf.name, f)
        ins = Ins(f"{sf.name} = sync_file_create({f.name})", owner=self.owner, allocates=sf)
        self._deref(ins, f)
        ins.checks.append(("kref-get-zero", (f.count == 0) & (f.life == LIVE), f"{f.name}'s count is 0"))
        ins.effects += [assign(sf.life, LIVE), assign(sf.count, 1), assign(held, 1),
                        assign(f.count, ite(f.count < f.max_refs, f.count + 1, f.count)),
                        assign(its, ite(its < f.max_refs, its + 1, its))]
        self._alloc(ins, "GFP_KERNEL")
        if fail:
            ins.alts.append(Alt("enomem", lift(True), [], self._lab(fail), "sync_file_create() -> NULL"))
        self._add(ins)

    @core_call
    def sync_file_poll(self, sf: KObject, *, ready: str | None = None, wait: bool = False) -> None:
        """``poll()`` on a sync_file fd (sync_file_poll): the first poll of this sync_file (its own
        POLL_ENABLED bit in sync_file->flags; before 2017's "dma-buf/sync_file: Allow multiple sync_files to
        wrap a single dma-fence" the bit was the fence's) arms its callback on the fence, which wakes the
        file's wait queue when the fence signals (at once if it already did); ``ready``: the label taken when
        the fence is signaled (EPOLLIN). ``wait=True`` is a blocking poll() with no timeout: it sleeps on the
        wait queue until the fence signals. The release removes an armed callback, as sync_file_release()
        does, so a callback never runs on a freed sync_file."""
        f = getattr(sf, "sync_fence", None)
        wq = getattr(sf, "sync_wq", None)
        if f is None or wq is None:
            raise ModelError(f"thread {self.thread}: {getattr(sf, 'name', sf)!r} is not a sync_file (Driver.sync_file)")
        self.b.next_plan.polled.add(sf.name)
        enabled = self.b.poll_enabled(sf)
        armed = self._fresh("poll_armed")
        use = Ins(f"sync_file_poll({sf.name}): poll_wait(file, &sync_file->wq)", owner=self.owner)
        self._deref(use, sf)
        self._add(use)
        self._add(Ins(f"test_and_set_bit(POLL_ENABLED, &{sf.name}->flags)", owner=self.owner,
                      branch=(enabled == 1, self._lab(armed)), effects=[assign(enabled, 1)]))
        self.dma_fence_add_callback(f, sync_file_wake(sf, wq), name=f"{sf.name}.cb", fail=armed + "_now")
        self.goto(armed)
        self.label(armed + "_now")  # already signaled: wake_up_all(&sync_file->wq)
        self.wake_up(wq, f"wake_up_all(&{sf.name}->wq)")
        self.label(armed)
        if wait:
            self.wait_event(wq, f.signaled, text=f"poll(): sleep on {sf.name}->wq until {f.name} signals")
        if ready is not None:
            self.dma_fence_is_signaled(f, signaled=ready, text=f"dma_fence_is_signaled({f.name}) ? EPOLLIN : 0")

    def sync_file_get_fence(self, slot: Slot, *, fail: str) -> None:
        """``sync_file_get_fence(fd)``: fget(fd), a reference to its fence for the caller, fput: -EINVAL to
        ``fail`` when the fd is not installed."""
        sf = slot.obj
        f = getattr(sf, "sync_fence", None)
        if f is None:
            raise ModelError(f"thread {self.thread}: {slot.name} does not hold a sync_file")
        self.lookup(slot, fail=fail, text=f"sync_file = sync_file_fdget({slot.name})")
        self.kref_get(f, f"dma_fence_get(sync_file->fence) ({f.name})")
        self.fput(sf)

    # ---- reservation objects ----------------------------------------------------
    def dma_resv_lock(self, r: Resv, *, ctx: bool = False, interruptible: bool = False, fail: str | None = None,
                      edeadlk: str | None = None) -> None:
        """``dma_resv_lock(obj, NULL)``, or with the thread's ww acquire context (``ctx=True``): wait-die
        (RESV-W1), a younger context that would wait for an older one's lock while holding others gets
        -EDEADLK, to the ``edeadlk`` label (the backoff: unlock everything, then dma_resv_lock_slow)."""
        self._resv_use(r)
        text = f"dma_resv_lock{'_interruptible' if interruptible else ''}({r.name}, {'&ctx' if ctx else 'NULL'})"
        self._no_fail_unless(interruptible, fail, "dma_resv_lock", "interruptible=True (dma_resv_lock_interruptible)")
        if self._signalling:
            self._pending_checks.append(("sig-no-resv-lock", lift(True), "a fence signalling path takes a dma_resv lock"))
        if not ctx:
            self._lock(r.lock, sleeps=True, text=text, fail=fail, fail_text="-EINTR")
            return
        stamp, acquired = self.b.ww(self.me)
        ins = self._lock_ins(r.lock, text)
        self._sleep_check(ins, text)
        ins.checks.append(("ww-acquire-ctx", stamp == 0, f"{self.me} locks {r.name} with a context it has not "
                           "initialised (ww_acquire_init)"))
        held_ww = self.b.ww_held(r)
        ins.effects += [assign(acquired, ite(acquired < 3, acquired + 1, acquired)), assign(held_ww, 1)]
        done = self.b.ww_done(self.me)
        if done is not None:  # DEBUG_WW_MUTEX_SLOWPATH: DEBUG_LOCKS_WARN_ON(ww_ctx->done_acquire)
            ins.checks.append(("ww-acquire-ctx", done == 1, f"{self.me} locks {r.name} after ww_acquire_done()"))
        die = self.b.ww_dies(self.me, r)
        ins.wait_when = ~die
        # without edeadlk the error is ignored: the call returns without the lock and the code goes on
        target = self._lab(edeadlk) if edeadlk else self._lab(self._fresh("ignored"))
        ins.alts.append(Alt("edeadlk", die, [], target, f"{text} -> -EDEADLK", needs_ww=True))
        if fail:
            ins.alts.append(Alt("eintr", lift(True), [], self._lab(fail), f"{text} -> -EINTR"))
        self._add(ins)
        if not edeadlk:
            self._pending_labels.append(target)  # the ignored error goes on with the next call

    def dma_resv_lock_slow(self, r: Resv, *, interruptible: bool = False, fail: str | None = None) -> None:
        """``dma_resv_lock_slow``: after -EDEADLK, with every other lock of the context dropped, sleep until the
        contended lock is free (no -EDEADLK): RESV-W2. ``interruptible`` (dma_resv_lock_slow_interruptible):
        a signal ends the sleep with -EINTR, to ``fail``."""
        self._resv_use(r)
        self._no_fail_unless(interruptible, fail, "dma_resv_lock_slow", "interruptible=True")
        stamp, acquired = self.b.ww(self.me)
        text = f"dma_resv_lock_slow{'_interruptible' if interruptible else ''}({r.name}, &ctx)"
        ins = self._lock_ins(r.lock, text)
        if fail:
            ins.alts.append(Alt("eintr", lift(True), [], self._lab(fail), f"{text} -> -EINTR"))
        self._sleep_check(ins, text)
        ins.checks.append(("ww-backoff", acquired > 0, f"{self.me} calls dma_resv_lock_slow still holding ww locks of "
                           "its context (RESV-W2: release every lock first)"))
        ins.checks.append(("ww-acquire-ctx", stamp == 0, f"{self.me} has no acquire context"))
        held_ww = self.b.ww_held(r)
        ins.effects += [assign(acquired, ite(acquired < 3, acquired + 1, acquired)), assign(held_ww, 1)]
        self._add(ins)

    def ww_acquire_init(self) -> None:
        """``ww_acquire_init(&ctx, &reservation_ww_class)``: a new, younger ticket for this thread."""
        stamp, _acquired = self.b.ww(self.me)
        clock = self.b.ww_clock()
        top = self.b.ww_top()
        ins = Ins("ww_acquire_init(&ctx, &reservation_ww_class)", owner=self.owner, acquires=("ww_acquire",),
                  take=WW_CTX)
        ins.checks.append(("ww-acquire-ctx", stamp != 0, f"{self.me} already has an active acquire context"))
        # the ticket first, then the clock (effects are sequential)
        ins.effects += [assign(stamp, ite(clock < top, clock + 1, clock)), assign(clock, stamp)]
        self._add(ins)

    def drm_exec_init(self) -> None:
        """``drm_exec_init(&exec, DRM_EXEC_INTERRUPTIBLE_WAIT, 0)`` (drivers/gpu/drm/drm_exec.c): a transaction
        over several reservation objects with one ww acquire context. Write the loop as C does::

            k.drm_exec_init()
            k.label("retry")                       # drm_exec_until_all_locked(&exec) {
            k.drm_exec_lock_obj(bo.resv, retry="retry")   # ret = drm_exec_lock_obj(); drm_exec_retry_on_contention()
            ...                                    # }
            k.drm_exec_fini()
        """
        self._exec: list[Resv] = []
        self.ww_acquire_init(text="drm_exec_init(&exec): ww_acquire_init(&exec->ticket)")

    def drm_exec_lock_obj(self, r: Resv, *, retry: str, fail: str | None = None) -> None:
        """``drm_exec_lock_obj(&exec, obj)`` + ``drm_exec_retry_on_contention(&exec)``: lock with the context;
        on -EDEADLK unlock every object of the transaction, sleep on the contended one (lock_slow, it becomes
        exec->prelocked) and start over at ``retry``; the object already prelocked is not locked again.
        ``fail`` (DRM_EXEC_INTERRUPTIBLE_WAIT): -EINTR from a signal while waiting, or -ENOMEM growing the
        object array, goes there (the caller then drm_exec_fini()s)."""
        if not hasattr(self, "_exec"):
            raise ModelError(f"thread {self.thread}: drm_exec_lock_obj() before drm_exec_init()")
        self._resv_use(r)
        if r not in self._exec:
            self._exec.append(r)
        pre = self.b.exec_prelocked(self.me)
        took, done, contended = self._fresh("prelocked"), self._fresh("locked"), self._fresh("contended")
        self.goto_if(pre == r.name, took, f"drm_exec_lock_obj({r.name}): if (exec->prelocked == obj)")
        self.dma_resv_lock(r, ctx=True, edeadlk=contended, interruptible=fail is not None, fail=fail)
        if fail:
            self.may_goto(fail, f"drm_exec_obj_locked({r.name}): krealloc(exec->objects) fails: -ENOMEM")
        self.goto(done)
        self.label(contended)  # drm_exec_retry_on_contention() -> drm_exec_cleanup()
        self._exec_unlock_all(f"drm_exec_unlock_all(&exec) ({r.name} is contended)", but=r)
        self.dma_resv_lock_slow(r, interruptible=fail is not None, fail=fail)
        self._set_state(pre, r.name, f"exec->prelocked = {r.name}")
        self.goto(retry)
        self.label(took)
        self._set_state(pre, "NONE", "exec->prelocked = NULL (already locked)")
        self.label(done)

    def drm_exec_prepare_obj(self, r: Resv, *, retry: str, fail: str | None = None) -> None:
        """``drm_exec_prepare_obj(&exec, obj, 1)`` + retry on contention: drm_exec_lock_obj, then
        dma_resv_reserve_fences (-ENOMEM to ``fail``; with fail also the lock's -EINTR)."""
        self.drm_exec_lock_obj(r, retry=retry, fail=fail)
        self.dma_resv_reserve_fences(r, fail=fail)

    def drm_exec_fini(self) -> None:
        """``drm_exec_fini(&exec)``: unlock every object of the transaction and finish the context."""
        if not hasattr(self, "_exec"):
            raise ModelError(f"thread {self.thread}: drm_exec_fini() before drm_exec_init()")
        self._exec_unlock_all("drm_exec_fini(&exec): drm_exec_unlock_all()", but=None)
        self._set_state(self.b.exec_prelocked(self.me), "NONE", "exec->prelocked = NULL")
        self.ww_acquire_fini(text="drm_exec_fini(&exec): ww_acquire_fini(&exec->ticket)")

    def _exec_unlock_all(self, what: str, but: Resv | None) -> None:
        # every object the transaction holds: those locked at this point of the loop and any an earlier
        # round left prelocked, i.e. every resv this thread holds with its acquire context
        for q in self.b.resvs:
            if q is but:
                continue
            skip = self._fresh("not_held")
            self.goto_if((q.lock.holder != self.me) | (self.b.ww_held(q) == 0), skip, f"{what}: {q.name} held?")
            self.dma_resv_unlock(q)
            self.label(skip)

    def _set_state(self, var: Expr, value: object, text: str) -> None:
        """(an internal store of the model's own bookkeeping, shown as the kernel statement ``text``)"""
        self._add(Ins(text, effects=[assign(var, value)], owner=self.owner))

    def dma_resv_lock_slow_interruptible(self, r: Resv, *, fail: str) -> None:
        self.dma_resv_lock_slow(r, interruptible=True, fail=fail)

    def ww_acquire_done(self) -> None:
        """``ww_acquire_done(&ctx)``: the acquire phase is over; a later lock with the context is the
        DEBUG_WW_MUTEX_SLOWPATH WARN (ww-acquire-ctx)."""
        stamp, _acquired = self.b.ww(self.me)
        self.b.next_plan.ww_done.add(self.me)
        ins = Ins("ww_acquire_done(&ctx)", owner=self.owner)
        ins.checks.append(("ww-acquire-ctx", stamp == 0, f"{self.me} has no acquire context"))
        done = self.b.ww_done(self.me)
        if done is not None:
            ins.effects.append(assign(done, 1))
        self._add(ins)

    def ww_acquire_fini(self) -> None:
        stamp, acquired = self.b.ww(self.me)
        ins = Ins("ww_acquire_fini(&ctx)", owner=self.owner, drop=WW_CTX)
        ins.checks.append(("ww-acquire-ctx", acquired > 0, f"{self.me} finishes its acquire context with ww locks "
                           "still held"))
        ins.effects.append(assign(stamp, 0))
        done = self.b.ww_done(self.me)
        if done is not None:
            ins.effects.append(assign(done, 0))
        self._add(ins)

    def dma_resv_unlock(self, r: Resv) -> None:
        self._resv_use(r)
        # debug kernels forget the reserved slots at unlock (dma_resv_reset_max_fences)
        extra = [assign(r.reserved, 0)]
        if self.me in self.b.ww_threads:  # a lock taken with the context leaves it
            _stamp, acquired = self.b.ww(self.me)
            held_ww = self.b.ww_held(r)
            mine = (held_ww == 1) & (r.lock.holder == self.me)
            extra = [assign(acquired, ite(mine & (acquired > 0), acquired - 1, acquired)),
                     assign(held_ww, ite(mine, 0, held_ww)), *extra]
        self._unlock(r.lock, f"dma_resv_unlock({r.name})", extra=extra)

    def dma_resv_reserve_fences(self, r: Resv, *, fail: str | None = None) -> None:
        self._resv_use(r)
        ins = Ins(f"dma_resv_reserve_fences({r.name}, 1)", owner=self.owner)
        ins.checks.append(("resv-held", r.lock.holder != self.me, f"{self.me} does not hold {r.name}'s lock"))
        ins.effects.append(assign(r.reserved, 1))
        self._alloc(ins, "GFP_KERNEL")
        if fail:
            ins.alts.append(Alt("enomem", lift(True), [], self._lab(fail), "dma_resv_reserve_fences() -> -ENOMEM"))
        self._add(ins)

    @core_call
    def dma_resv_add_fence(self, r: Resv, f: Fence, usage: str = "WRITE") -> None:
        """Add ``f`` to the resv: the resv takes its own fence reference; a slot must be reserved in this
        lock hold (RESV-A1); from here on, the fence's signalling path is a signalling section (SIG-2)."""
        self._resv_use(r)
        if usage not in USAGES:
            raise ModelError(f"thread {self.thread}: dma_resv_add_fence({r.name}, {f.name}): usage must be one of "
                             f"{', '.join(USAGES)} (enum dma_resv_usage), got {usage!r}")
        flag = self.b.resv_fence(r, f, usage)
        owner = r.owner
        held = self.b.held(owner, f)
        ins = Ins(f"dma_resv_add_fence({r.name}, {f.name}, DMA_RESV_USAGE_{usage})", owner=self.owner)
        self._deref(ins, f)
        ins.checks.append(("resv-held", r.lock.holder != self.me, f"{self.me} does not hold {r.name}'s lock"))
        ins.checks.append(("resv-reserve-before-add", r.reserved == 0,
                           f"no fence slot reserved on {r.name} in this lock hold"))
        # already in the resv: it replaces itself (a new reference in, the old one put)
        fresh = flag == 0
        # else the first slot holding an older fence of its context, or a signaled one, gets the new fence and
        # the resv puts the old one, still under the lock (its release runs here); effects apply in order, so
        # the slots are cleared before this fence's flag is set
        olds = [c for c in self.b.fences if c.name in r.fences and c is not f]
        earlier: list[Expr] = []
        puts: list[tuple[Fence, str]] = []
        for c in olds:
            stale = fresh & (r.fences[c.name] == 1) & (lift(c.context == f.context) | (c.signaled_v == 1))
            pick = conj(stale, *[~e for e in earlier])
            earlier.append(stale)
            label = self._fresh(f"replace_{c.name}")
            ins.switch.append((pick, self._lab(label)))
            ins.effects.append(assign(r.fences[c.name], ite(pick, 0, r.fences[c.name])))
            puts.append((c, label))
        ins.effects += [assign(held, ite(fresh & (held < f.max_refs), held + 1, held)),
                        assign(f.count, ite(fresh & (f.count < f.max_refs), f.count + 1, f.count))]
        ins.effects += [assign(r.reserved, 0), assign(flag, 1)]
        self._add(ins)
        if not puts:
            return
        done = self._fresh("added")
        self.goto(done)
        self._owner.append(owner)
        try:
            for c, label in puts:
                self.label(label)
                self.dma_fence_put(c, f"dma_resv_add_fence({r.name}, {f.name}): dma_fence_put(old = {c.name})")
                self.goto(done)
        finally:
            self._owner.pop()
        self.label(done)

    def dma_resv_wait_timeout(self, r: Resv, usage: str = "BOOKKEEP", *, intr: bool = False,
                              fail: str | None = None, timeout: str | None = None) -> None:
        """``dma_resv_wait_timeout(obj, usage, intr, timeout)``: wait for the resv's fences of ``usage`` and the
        stronger classes (KERNEL < WRITE < READ < BOOKKEEP: READ waits for KERNEL, WRITE and READ fences);
        ``timeout``: the label a finite timeout returns 0 to while some fence is still pending."""
        self._resv_use(r)
        if usage not in USAGES:
            raise ModelError(f"thread {self.thread}: dma_resv_wait_timeout({r.name}): usage must be one of "
                             f"{', '.join(USAGES)}, got {usage!r}")
        fences = self._resv_fences(r, usage)
        idle = self._resv_idle(r, usage)
        shown = "" if usage == "BOOKKEEP" else f", DMA_RESV_USAGE_{usage}"
        ins = Ins(f"dma_resv_wait_timeout({r.name}{shown})", owner=self.owner, guard=idle)
        if len(fences) == 1:
            ins.waits_fence = fences[0]
        self._fence_wait(ins, ~idle, intr, fail, "a resv's fences", timeout)

    def _resv_idle(self, r: Resv, usage: str) -> Expr:
        """Every fence of ``usage`` or a stronger class that may be in ``r`` is out of it or signaled."""
        return conj(*[(r.fences[f.name] == 0) | (f.signaled_v == 1) for f in self._resv_fences(r, usage)])

    def _resv_fences(self, r: Resv, usage: str) -> list[Fence]:
        """The fences that may be in ``r`` with ``usage`` or a stronger class (what an iterator of usage sees)."""
        if usage not in USAGES:
            raise ModelError(f"thread {self.thread}: {r.name}: usage must be one of {', '.join(USAGES)} "
                             f"(enum dma_resv_usage), got {usage!r}")
        rank = USAGES.index(usage)
        plan = self.b.plan.resv_usage
        return [f for f in self.b.fences if f.name in r.fences
                and any(USAGES.index(u) <= rank for u in plan.get((r.name, f.name), set(USAGES)))]

    def dma_resv_for_each_fence(self, r: Resv, usage: str, body: Callable[..., None], text: str = "") -> None:
        """``dma_resv_for_each_fence(&cursor, obj, usage, fence) { body }`` with the resv locked: ``body(k,
        fence)`` for each fence in the resv of ``usage`` or stronger. The fence is borrowed: it stays valid
        while the lock is held (the resv may put it once unlocked); ``k.dma_fence_get(fence)`` keeps it."""
        self._resv_use(r)
        held = ("resv-held", r.lock.holder != self.me, f"{self.me} walks {r.name}'s fences without its lock "
                "(dma_resv_iter_first: dma_resv_assert_held)")
        fences = self._resv_fences(r, usage)
        if not fences:
            self._pending_checks.append(held)
        for f in fences:
            skip = self._fresh(f"notin_{f.name}")
            ins = Ins(text or f"dma_resv_for_each_fence({r.name}, DMA_RESV_USAGE_{usage}): {f.name}?",
                      owner=self.owner, branch=(r.fences[f.name] == 0, self._lab(skip)))
            ins.checks.append(held)
            self._add(ins)
            self._inline(f"{LOOP_SCOPE}resv.{f.name}", lambda f=f: body(self, f))
            self.label(skip)

    def dma_resv_for_each_fence_unlocked(self, r: Resv, usage: str, body: Callable[..., None],
                                         text: str = "") -> None:
        """``dma_resv_for_each_fence_unlocked(&cursor, fence) { body }`` (dma_resv_iter_begin/end): without the
        lock, under RCU, the iterator takes a reference to each fence still in the resv whose count is not 0
        (dma_fence_get_rcu), runs ``body(k, fence)`` (which may sleep) and drops it for the next one: the fence
        is the body's only while it runs."""
        self._resv_use(r)
        for f in self._resv_fences(r, usage):
            skip = self._fresh(f"notin_{f.name}")
            ins = Ins(text or f"dma_resv_for_each_fence_unlocked({r.name}, DMA_RESV_USAGE_{usage}): "
                      f"dma_fence_get_rcu({f.name})", owner=self.owner,
                      branch=((r.fences[f.name] == 0) | (f.count == 0), self._lab(skip)))
            self._take_ref(ins, f, (r.fences[f.name] == 1) & (f.count > 0))
            self._add(ins)
            self._inline(f"for_each.{f.name}", lambda f=f: body(self, f))
            self.dma_fence_put(f, f"dma_resv_iter_next_unlocked({r.name}): dma_fence_put({f.name})")
            self.label(skip)

    def dma_resv_test_signaled(self, r: Resv, usage: str = "BOOKKEEP", *, busy: str, text: str = "") -> None:
        """``if (!dma_resv_test_signaled(obj, usage)) goto busy;`` (lockless, under RCU): every fence of
        ``usage`` or stronger in the resv has signaled."""
        self._resv_use(r)
        idle = self._resv_idle(r, usage)
        self._add(Ins(text or f"dma_resv_test_signaled({r.name}, DMA_RESV_USAGE_{usage})", owner=self.owner,
                      branch=(~idle, self._lab(busy))))

    # ---- dma-buf ------------------------------------------------------------------
    def dma_buf_export(self, buf: DmaBuf, *, priv: KObject | None = None, fail: str | None = None) -> None:
        """``dma_buf_export``: the buffer's file exists with one reference, the caller's (REF-1); ``priv``
        (exp_info.priv) now belongs to the buffer: its release op frees it."""
        self._obj(buf)
        held = self.b.held(self.owner, buf)
        ins = Ins(f"{buf.name} = dma_buf_export({'priv=' + priv.name if priv else ''})", owner=self.owner,
                  allocates=buf)
        ins.effects += [assign(buf.life, LIVE), assign(buf.count, 1), assign(held, 1)]
        if priv is not None:
            self._obj(priv)
            self._deref(ins, priv)
            self._hand_over(ins, priv, buf.name, f"{priv.name}, which it does not own")
        self._alloc(ins, "GFP_KERNEL")
        if fail:
            ins.alts.append(Alt("enomem", lift(True), [], self._lab(fail), "dma_buf_export() -> -ENOMEM"))
        self._add(ins)

    @core_call
    def dma_buf_fd(self, buf: DmaBuf, slot: Slot, *, fail: str | None = None) -> None:
        """``dma_buf_fd``: the fd takes over the caller's reference (REF-5); -EMFILE (to ``fail``) leaves it."""
        if slot.obj is not buf:
            raise ModelError(f"dma_buf_fd: slot {slot.name} holds {slot.obj.name}, not {buf.name}")
        self.publish(slot, f"dma_buf_fd({buf.name}) -> {slot.name}", fail=fail)

    def dma_buf_get(self, slot: Slot, *, fail: str) -> None:
        self.lookup(slot, fail=fail, text=f"{slot.obj.name} = dma_buf_get({slot.name})")

    @core_call
    def dma_buf_attach(self, att: Attachment, *, fail: str | None = None) -> None:
        """``dma_buf_(dynamic_)attach``: the exporter's attach op runs first, without the resv (ATT-2); the
        attachment joins dmabuf->attachments under the resv (ATT-3, from v5.7); v5.7-v6.15 a mismatched pair
        is then mapped (and a dynamic exporter pinned) in a resv hold of its own (ATT-6)."""
        buf = att.buf
        assert buf.resv is not None
        ins = Ins(f"{att.name} = dma_buf_attach({buf.name})", owner=self.owner, attaches=att)
        self._deref(ins, buf)
        if fail:
            ins.alts.append(Alt("enomem", lift(True), [], self._lab(fail), "dma_buf_attach() -> -ENOMEM"))
        listed = self._lists_under_resv()
        if not listed:
            ins.effects.append(assign(att.v, "ATTACHED"))
        self._add(ins)
        # the attach op fails: kfree(attach), ERR_PTR to the caller (before v5.7 the listing came first)
        self._op(buf, "attach", self._lab(fail) if fail else None, () if listed else (assign(att.v, "NONE"),),
                 fails=True, att=att)
        if listed:
            self.dma_resv_lock(buf.resv)
            self._unlock(buf.resv.lock, f"dma_resv_unlock({buf.resv.name}) /* list_add(&attach->node) */",
                         extra=[assign(att.v, "ATTACHED")])
        if self._maps_at_attach(att):
            # before v6.2 the cached map takes the resv only for a dynamic exporter, from v6.2 always
            locks = buf.dynamic or self.b.prof.locking == "all"
            if locks:
                self.dma_resv_lock(buf.resv)
            if buf.dynamic:
                self._op(buf, "pin", att=att)
            self._op(buf, "map", att=att)
            if locks:
                self.dma_resv_unlock(buf.resv)

    @core_call
    def dma_buf_detach(self, att: Attachment) -> None:
        buf = att.buf
        assert buf.resv is not None
        inside = self.b.prof.locking == "all"  # v6.2: the cached table goes inside the list-del hold

        def unmap_cached() -> None:  # the ATT-6 table: the exporter's unmap, and unpin for a dynamic exporter
            self._op(buf, "unmap", att=att)
            if buf.dynamic:
                self._op(buf, "unpin", att=att)
        if self._maps_at_attach(att) and not inside:  # before: first, under the resv for a dynamic exporter
            if buf.dynamic:
                self.dma_resv_lock(buf.resv)
            unmap_cached()
            if buf.dynamic:
                self.dma_resv_unlock(buf.resv)
        ins = Ins(f"dma_buf_detach({buf.name}, {att.name})", owner=self.owner)
        self._deref(ins, buf)
        ins.checks.append(("detach-after-unmap", (att.v == "MAPPED") | (att.v == "STALE"),
                           f"{att.name} is still mapped"))
        ins.checks.append(("detach-after-unmap", att.v == "NONE",
                           f"{att.name} is not attached: it was detached already (the attachment is freed memory)"))
        if att.name in self.b.plan.pinned:  # ATT-7/DYN-4: explicit pins are dropped before detach
            pins = self.b.pin_count(att)
            ins.checks.append(("pin-balance", pins > 0, f"{att.name} is detached still pinned: its pin is never "
                               "dropped and the buffer can never move again"))
        listed = self._lists_under_resv()
        if not listed:
            ins.effects.append(assign(att.v, "NONE"))
        self._add(ins)
        if listed:
            self.dma_resv_lock(buf.resv)
            if self._maps_at_attach(att) and inside:
                unmap_cached()
            self._unlock(buf.resv.lock, f"dma_resv_unlock({buf.resv.name}) /* list_del(&attach->node) */",
                         extra=[assign(att.v, "NONE")])
        self._op(buf, "detach", att=att)

    def _lists_under_resv(self) -> bool:
        """ATT-3: dmabuf->attachments is protected by the resv from v5.7 ('dma-buf: add dynamic DMA-buf
        handling'); before, by the dma_buf's own mutex, which no driver code can hold."""
        return self.b.prof.dynamic

    @core_call
    def dma_buf_poll(self, buf: DmaBuf) -> None:
        """``poll(fd, POLLIN)`` on a dma-buf (dma_buf_poll): under the resv, the dma-buf's own callback
        (dmabuf->cb_in, part of struct dma_buf) goes on the first unsignaled fence of the resv; it wakes the
        poller when the fence signals. From v5.15 (ff2d23843f7f 'dma-buf/poll: Get a file reference for
        outstanding fence callbacks') the callback owns a file reference (get_file before, fput in it), so
        closing the fd cannot free the dma-buf under a pending callback; before, nothing kept it alive."""
        self._obj(buf)
        if not isinstance(buf, DmaBuf):
            raise ModelError(f"thread {self.thread}: dma_buf_poll({buf.name}): not a dma_buf")
        r = buf.resv
        assert r is not None
        ref = self.b.prof.poll_file_ref
        fences = [f for f in self.b.fences if f.name in r.fences]
        self.dma_resv_lock(r)
        done = self._fresh("polled")

        def wake(k: Code) -> None:  # dma_buf_poll_cb()
            k.use(buf, "dma_buf_poll_cb(): wake_up_locked_poll(dcb->poll, dcb->active)")
            if ref:
                k.fput(buf)  # paired with the get_file() in dma_buf_poll()
        for f in fences:
            skip, signaled = self._fresh("next_fence"), self._fresh("signaled")
            cb = self.b.callback(f, f"{buf.name}.cb_in.{f.name}", wake)
            self.goto_if((r.fences[f.name] == 0) | (f.signaled_v == 1) | (cb.armed == 1), skip,
                         f"dma_resv_for_each_fence({r.name}): {f.name} unsignaled?")
            if ref:
                self.get_file(buf)
            self.dma_fence_add_callback(f, wake, name=cb.name, fail=signaled, pass_refs=(buf,) if ref else ())
            self.goto(done)
            self.label(signaled)  # it signaled meanwhile: dma_buf_poll_cb(NULL, &dcb->cb) runs here
            wake(self)
            self.goto(done)
            self.label(skip)
        self.label(done)
        self.dma_resv_unlock(r)

    def _maps_at_attach(self, att: Attachment) -> bool:
        """ATT-6 (v5.7-v6.15): exactly one side dynamic, so attach maps BIDIRECTIONAL and caches the sg_table."""
        return self.b.prof.attach_maps_mismatched and att.dynamic != att.buf.dynamic

    def _pins_on_map(self, att: Attachment) -> bool:
        """MAP-9 (v6.16, dma_buf_pin_on_map()): a static attachment of a dynamic exporter is pinned around each
        map (driver programs follow CONFIG_DMABUF_MOVE_NOTIFY=y: a dynamic attachment is not)."""
        return self.b.prof.pin_on_map and att.buf.dynamic and not att.dynamic

    def _core_map_locking(self, att: Attachment, locked: bool) -> tuple[bool, bool, str]:
        """What the core does around map/unmap in this generation: (it takes the resv itself, the caller
        must hold it, the call's name). v6.2+ (LOCK-1, MAP-2): map/unmap need the resv, the _unlocked
        variants take it; v5.7-v6.1: only a dynamic attachment needs it (dma_resv_assert_held), the core
        takes nothing; before: no resv rule at all."""
        loc = self.b.prof.locking
        if loc == "all":
            return (not locked, True, "dma_buf_map_attachment" + ("" if locked else "_unlocked"))
        return (False, loc == "dynamic" and att.dynamic, self.b.prof.map_call)

    @core_call
    def dma_buf_map_attachment(self, att: Attachment, *, locked: bool = False, fail: str | None = None) -> None:
        """Map the attachment; the exporter's map op runs inside. ``locked``: the caller holds the resv
        (the locked call of v6.2+; in older generations the same call, made under the resv)."""
        buf = att.buf
        assert buf.resv is not None
        core_locks, needs_resv, call = self._core_map_locking(att, locked)
        if core_locks:
            self.dma_resv_lock(buf.resv)
        ins = Ins(f"{call}({att.name})", owner=self.owner)
        self._deref(ins, buf)
        ins.checks.append(("map-after-attach", att.v == "NONE", f"{att.name} is not attached"))
        if needs_resv:
            ins.checks.append(("resv-held", buf.resv.lock.holder != self.me,
                               f"{self.me} maps {att.name} without holding {buf.resv.name}"))
        ins.effects.append(assign(att.v, ite(att.v == "NONE", "NONE", "MAPPED")))  # a stale mapping is remapped
        failed = self._fresh("map_failed") if fail and core_locks else None  # the core unlocks before returning
        if fail:
            ins.alts.append(Alt("err", lift(True), [], self._lab(failed or fail), f"{call}() -> ERR_PTR"))
        self._add(ins)
        if not self._maps_at_attach(att):  # ATT-6: the table cached at attach is handed out, no exporter call
            if self._pins_on_map(att):  # MAP-9: dma_buf_pin_on_map() (v6.16): the exporter's pin op first
                self._op(buf, "pin", att=att)
            # map_dma_buf returns ERR_PTR: the caller gets it (the core unlocks first when it locked)
            self._op(buf, "map", self._lab(failed or fail) if fail else None,
                     (assign(att.v, ite(att.v == "MAPPED", "ATTACHED", att.v)),), fails=True, att=att)
        if core_locks:
            self.dma_resv_unlock(buf.resv)
        if failed:
            done = self._fresh("mapped")
            self.goto(done)
            self.label(failed)
            self.dma_resv_unlock(buf.resv)
            self.goto(fail)  # type: ignore[arg-type]
            self.label(done)

    @core_call
    def dma_buf_unmap_attachment(self, att: Attachment, *, locked: bool = False) -> None:
        buf = att.buf
        assert buf.resv is not None
        core_locks, needs_resv, call = self._core_map_locking(att, locked)
        call = call.replace("map_attachment", "unmap_attachment").replace("get_scatterlist", "put_scatterlist")
        if core_locks:
            self.dma_resv_lock(buf.resv)
        ins = Ins(f"{call}({att.name})", owner=self.owner)
        self._deref(ins, buf)
        ins.checks.append(("unmap-after-map", (att.v == "NONE") | (att.v == "ATTACHED"),
                           f"{att.name} is not mapped: an sg_table is unmapped without a map (or twice)"))
        if needs_resv:
            ins.checks.append(("resv-held", buf.resv.lock.holder != self.me,
                               f"{self.me} unmaps {att.name} without holding {buf.resv.name}"))
        ins.effects.append(assign(att.v, ite((att.v == "MAPPED") | (att.v == "STALE"), "ATTACHED", att.v)))
        self._add(ins)
        if not self._maps_at_attach(att):  # "if (attach->sgt == sg_table) return": the cached one stays
            self._op(buf, "unmap", att=att)
            if self._pins_on_map(att):
                self._op(buf, "unpin", att=att)
        if core_locks:
            self.dma_resv_unlock(buf.resv)

    def _buf_call(self, buf: DmaBuf, op: str, kind: str, delta: int, fail: str | None = None,
                  dir: str | None = None) -> None:  # noqa: A002
        """A core call that dereferences the buffer, counts the caller's bracket and runs the exporter's op;
        begin_cpu_access and vmap return the op's error (``fail``: the bracket is not opened). ``dir``: the
        CPU access's direction, handed to an op body that takes an argument (``begin_cpu_access(k, dir)``)."""
        n = self.b.cpu_state(self.owner, buf, kind)
        ins = Ins(f"dma_buf_{op}({buf.name}{', ' + dir if dir else ''})", owner=self.owner)
        self._deref(ins, buf)
        busy: Expr | None = None  # begin_cpu_access: a fence the access waits for is still pending
        if op == "begin_cpu_access" and buf.resv is not None and buf.resv.fences:
            # __dma_buf_begin_cpu_access(): dma_resv_wait_timeout(resv, dma_resv_usage_rw(write), true, ...):
            # a CPU write waits for every reader and writer, a CPU read for the writers only
            usage = "READ" if dir in ("DMA_BIDIRECTIONAL", "DMA_TO_DEVICE") else "WRITE"
            if self._resv_fences(buf.resv, usage):
                ins.guard = self._resv_idle(buf.resv, usage)
                busy = ~ins.guard
        if delta < 0:
            rule, what = (("cpu-access-bracketed", "end_cpu_access without a begin_cpu_access") if kind == "cpu"
                          else ("vunmap-after-vmap", "vunmap without a vmap"))
            ins.checks.append((rule, n == 0, f"{self.owner}: {what} (CPU-1/CPU-7)"))
            ins.effects.append(assign(n, ite(n > 0, n - 1, 0)))
        else:
            ins.checks.append(("driver-assert", n >= 2, f"{self.owner} nests {op} more than the model tracks"))
            ins.effects.append(assign(n, ite(n < 2, n + 1, n)))
        undo: tuple[Effect, ...] = (assign(n, ite(n > 0, n - 1, 0)),)
        skip = None
        serial: Lock | Resv | None = None  # the lock the core holds around the counter and the op
        if kind == "vmap" and ("vmap" in buf.ops or "vunmap" in buf.ops):
            how = self.b.prof.vmap_lock
            serial = buf.resv if how == "resv" else buf.lock if how == "dma_buf.lock" else None
            # dmabuf->vmapping_counter: the exporter's vmap runs for the first vmap only (the others get the
            # cached vmap_ptr) and its vunmap for the last vunmap only, in the same step as the core's check
            cnt = self.b._lazy(f"vmapcnt_{ident(buf.name)}", Range(0, 3), 0, kernel="dma_buf.vmapping_counter",
                               meaning=f"vmaps of {buf.name} (its exporter's vmap ran for the first)", rule="CPU-7")
            skip = self._fresh("vmap_cached")
            if delta > 0:
                ins.branch = (cnt > 0, self._lab(skip))
                ins.effects.append(assign(cnt, ite(cnt > 0, ite(cnt < 3, cnt + 1, cnt), 1)))
                undo += (assign(cnt, 0),)  # the op failed: no vmap exists
            else:
                ins.branch = (cnt > 1, self._lab(skip))
                ins.effects.append(assign(cnt, ite(cnt > 0, cnt - 1, 0)))

        def call(err: str | None) -> None:
            self._add(ins)
            if delta > 0:
                errors = self._op_errors
                self._op(buf, op, self._lab(err) if err else None, undo, fails=True, arg=dir)
                if fail and op == "begin_cpu_access" and (busy is not None or self._op_errors == errors):
                    # a signal ends the interruptible wait while a fence is pending (with none and an op that
                    # cannot fail, the fail label is dead code and is reported so)
                    ins.alts.append(Alt("erestartsys", busy if busy is not None else lift(False), [],
                                        self._lab(fail), f"{ins.text} -> -ERESTARTSYS"))
                if fail and op == "vmap" and self._op_errors == errors:
                    raise ModelError(f"thread {self.thread}: dma_buf_vmap({buf.name}, fail={fail!r}) cannot fail: "
                                     "the exporter's vmap op returns no error")
            else:
                self._op(buf, op, arg=dir)
            if skip is not None:
                self.label(skip)

        if serial is None:
            call(fail if delta > 0 else None)
        elif isinstance(serial, Resv):  # v6.2+: dma_buf_vmap_unlocked() takes the resv around it
            self._under(lambda: self.dma_resv_lock(serial, text=f"dma_buf_{op}_unlocked({buf.name}): "
                                                   f"dma_resv_lock({serial.name}, NULL)"),
                        lambda: self.dma_resv_unlock(serial, text=f"dma_buf_{op}_unlocked({buf.name}): "
                                                     f"dma_resv_unlock({serial.name})"),
                        call, fail if delta > 0 else None)
        else:
            self._under(lambda: self.mutex_lock(serial, text=f"dma_buf_{op}({buf.name}): mutex_lock(&{buf.name}->lock)"),
                        lambda: self.mutex_unlock(serial, text=f"dma_buf_{op}({buf.name}): "
                                                  f"mutex_unlock(&{buf.name}->lock)"),
                        call, fail if delta > 0 else None)

    def _under(self, lock: Callable[[], None], unlock: Callable[[], None], body: Callable[[str | None], None],
               fail: str | None) -> None:
        """A core call's part under a lock it takes: ``body(err)`` runs between ``lock()`` and ``unlock()``,
        an error inside it going to the label ``err`` (None without ``fail``), which unlocks too and then goes
        to the caller's ``fail``."""
        lock()
        err = self._fresh("unlock_on_error") if fail else None
        body(err)
        unlock()
        if err:
            done = self._fresh("unlocked")
            self.goto(done)
            self.label(err)
            unlock()
            self.goto(fail, "return the error")
            self.label(done)

    def dma_buf_begin_cpu_access(self, buf: DmaBuf, dir: str = "DMA_BIDIRECTIONAL", *,  # noqa: A002
                                 fail: str | None = None) -> None:
        """``dma_buf_begin_cpu_access(buf, dir)``: waits (interruptibly) for the resv's fences a CPU access in
        ``dir`` conflicts with (a write: every fence up to READ; a read, DMA_FROM_DEVICE: the writers), then
        runs the exporter's op, given ``dir`` if its body takes an argument; its error goes to ``fail``."""
        self._direction(dir, "dma_buf_begin_cpu_access")
        self._buf_call(buf, "begin_cpu_access", "cpu", +1, fail, dir)

    def dma_buf_end_cpu_access(self, buf: DmaBuf, dir: str = "DMA_BIDIRECTIONAL") -> None:  # noqa: A002
        """``dma_buf_end_cpu_access(buf, dir)``: closes a begin_cpu_access bracket; the op gets ``dir``."""
        self._direction(dir, "dma_buf_end_cpu_access")
        self._buf_call(buf, "end_cpu_access", "cpu", -1, dir=dir)

    def _direction(self, dir: str, call: str) -> None:  # noqa: A002
        if dir not in DMA_DIRECTIONS:
            raise ModelError(f"thread {self.thread}: {call}: the direction is one of {', '.join(DMA_DIRECTIONS)}, "
                             f"got {dir!r}")

    def dma_buf_vmap(self, buf: DmaBuf, *, fail: str | None = None) -> None:
        """``dma_buf_vmap``: the exporter's vmap op runs inside; its error is returned (to ``fail``)."""
        self._buf_call(buf, "vmap", "vmap", +1, fail)

    def dma_buf_vunmap(self, buf: DmaBuf) -> None:
        self._buf_call(buf, "vunmap", "vmap", -1)

    def cpu_access(self, buf: DmaBuf, what: str = "") -> None:
        """The CPU reads or writes the buffer's pages (memcpy from a kernel mapping): only between
        dma_buf_begin_cpu_access and dma_buf_end_cpu_access, or through a vmap (CPU-1)."""
        bracket, vmapped = self.b.cpu_state(self.owner, buf, "cpu"), self.b.cpu_state(self.owner, buf, "vmap")
        ins = Ins(what or f"CPU access to {buf.name}", owner=self.owner)
        self._deref(ins, buf)
        ins.checks.append(("cpu-access-bracketed", (bracket == 0) & (vmapped == 0),
                           f"{self.owner} touches {buf.name} outside begin/end_cpu_access and without a vmap"))
        self._add(ins)

    def dma_access(self, att: Attachment, what: str = "", *, fence: Fence | None = None) -> None:
        """The importer's device reads or writes through its mapping: only while it is mapped (MAP-1) and,
        once a move invalidated it, only as work the exporter's move still waits for (DYN-7, MIG-6): a job
        whose ``fence`` is in the buffer's resv and has not signaled. Anything else is DMA into memory the
        importer no longer owns."""
        ins = Ins(what or f"device DMA through {att.name}", owner=self.owner)
        self._deref(ins, att.buf)
        ok = att.v == "MAPPED"
        why = f"{att.name} is not mapped (unmapped, or invalidated by a move)"
        if fence is not None:
            self._obj(fence)
            # pending in the resv when the move invalidated the mapping: the move waits for it
            ok = ok | ((att.v == "STALE") & (self.b.covered(att, fence) == 1) & (fence.signaled_v == 0))
            why = (f"{att.name} is not mapped, or a move invalidated it while {fence.name} was not a pending fence "
                   f"of {att.buf.resv.name} (nothing held the move back for this job)")
        ins.checks.append(("dma-through-live-mapping", ~ok, why))
        self._add(ins)

    def device_access(self, obj: KObject, *, until: Fence | None = None, after: tuple[Fence, ...] = (),
                      text: str = "") -> None:
        """A device job starts reading or writing ``obj`` (a BO in its buffer list, a page array it DMAs into, a
        framebuffer it scans out) and keeps doing so until ``until``, its fence, signals (None: this one access):
        the memory must stay allocated until then (MIG-6; TTM's delayed delete waits for the resv's fences), or
        it is DMA into freed memory. ``after``: the fences of the work it depends on (the producer's render, the
        move's copy); starting before one signaled reads what is not written yet (SYNC-3, MAP-7)."""
        self._obj(obj)
        if until is not None:
            self._obj(until)
        for f in after:
            self._obj(f)
        what = f"until {until.name} signals" if until is not None else "one access"
        ins = Ins(text or f"device job on {obj.name} ({what})", owner=self.owner)
        ins.checks.append(("dma-after-free", (obj.life == FREED) | (obj.life == GRACE),
                           f"the device starts DMA into {obj.name}, which was freed"))
        if self.me not in self.b.allocators.get(obj.name, ()):
            ins.checks.append(("use-before-init", (obj.life == UNBORN) | (obj.life == ALLOC),
                               f"{obj.name} is not set up yet"))
        for f in after:
            ins.checks.append(("dma-before-fence", ~disj(f.signaled, *([conj(*[g.signaled for g in f.implied_by])]
                                                                      if f.implied_by else [])),
                               f"the device accesses {obj.name} before {f.name} signaled (the work it depends on "
                               "is not done)"))
        if until is not None:
            ins.effects.append(assign(self.b.device_use(obj, until), 1))
        self._add(ins)

    # ---- internals ------------------------------------------------------------------
    def _core(self, name: str, default: Callable[[], None], *args: object, **kwargs: object) -> None:
        """A call of the dma-buf core: the driver may replace it (``Driver.core``) to check a proposed change of
        the core; the replacement gets the call's arguments and ``default``, the built-in body."""
        override = self.b.d.core_calls.get(name)
        if override is None or self._in_core:
            default()
            return
        self.b.core_used.add(name)
        caller = list(self._scope)

        def builtin() -> None:  # the built-in body resolves its labels (fail=...) where the call was written
            inner, self._scope = self._scope, caller
            try:
                default()
            finally:
                self._scope = inner

        self._in_core = True  # the replacement's own calls of the same name are the built-in ones
        try:
            self._inline(f"core.{name}", lambda: override(self, *args, default=builtin, **kwargs))
        finally:
            self._in_core = False

    def _cond(self, cond: object, call: str) -> Expr:
        """A branch or assertion condition: model state, never a Python bool (``field == 0`` compares the Field
        object itself and is always False, so the branch would silently never be taken)."""
        if isinstance(cond, bool):
            raise ModelError(f"thread {self.thread}: {call}: the condition is the Python value {cond}, not model "
                             "state; write it on a field's value (f.value == 0, f.is_set) or an object's state "
                             "(fence.signaled, slot.set, obj.alive)")
        return lift(cond)

    def _await(self, cond: Expr, text: str) -> None:
        """A step that runs only once ``cond`` holds (the environment's precondition, not a sleep)."""
        self._add(Ins(text, guard=cond, owner=self.owner))

    @contextmanager
    def _acting_as(self, owner: str):
        """The calls of the with-block take and drop ``owner``'s references (an object's, a resv's)."""
        self._owner.append(owner)
        try:
            yield
        finally:
            self._owner.pop()

    def _fresh(self, base: str) -> str:
        self._uid += 1
        return f"{base}#{self._uid}"

    def _scope_end(self) -> str:
        return "/".join(self._scope + ["$end"])

    def _add(self, ins: Ins) -> None:
        ins.where = _caller() or self._declared  # a body the library writes (d.gpu) is blamed on its declaration
        ins.in_signalling = self._signalling > 0 or ins.sig_end
        ins.in_release = self._releasing > 0
        ins.in_reclaim = self._reclaiming > 0
        ins.library = self._library > 0
        if not ins.owner:
            ins.owner = self.owner
        if self._pending_checks:
            ins.checks.extend(self._pending_checks)
            self._pending_checks = []
        if self._text_next:  # the program's own words for the call (text=), on its first step
            ins.text, self._text_next = self._text_next, ""
        idx = len(self.ins)
        for lab in self._pending_labels:
            self.labels[lab] = idx
        self._pending_labels = []
        self.ins.append(ins)

    def _inline(self, name: str, write: Callable[[], None], owner: str | None = None) -> None:
        if self._inline_depth > 8:
            raise ModelError(f"thread {self.thread}: callbacks nest more than 8 deep at {name} (a release that "
                             "drops a reference to itself?)")
        self._scope.append(self._fresh(name))
        self._inline_depth += 1
        library, self._library = self._library, 0  # a body (a callback, an op, a helper) is code to check
        if owner:
            self._owner.append(owner)
        try:
            write()
            self.label("$end")
        finally:
            self._library = library
            if owner:
                self._owner.pop()
            self._inline_depth -= 1
            self._scope.pop()

    def _callbacks(self, f: Fence) -> None:
        for cb in list(f.callbacks):
            skip = self._fresh(f"nocb_{cb.name}")
            self._add(Ins(f"{cb.name} armed?", branch=(cb.armed == 0, self._lab(skip)), effects=[],
                          owner=self.owner))
            self._run_callback(cb)
            self.label(skip)

    def _run_callback(self, cb: Callback) -> None:
        def write() -> None:
            self._add(Ins(f"{cb.name}() [fence callback, {cb.fence.lock.name if cb.fence.lock else cb.fence.name} held]",
                          effects=[assign(cb.armed, 0)]))
            cb.body(self)
            for obj in self.b.objects:  # a callback ends: references handed to it and not dropped are leaked
                v = self.b.held_vars.get((cb.name, obj.name))
                if v is not None:
                    self._pending_checks.append(("kref-leak", v > 0, f"{cb.name} returns still holding a reference "
                                                 f"to {obj.name}"))
        self._inline(cb.name, write, owner=cb.name)

    def _op(self, buf: DmaBuf, op: str, fail: str | None = None, undo: tuple[Effect, ...] = (),
            fails: bool = False, att: Attachment | None = None, arg: object = None) -> None:
        """Run the exporter's ``op`` inline. ``fails``: the kernel returns the op's error to the caller; then
        an error return goes to ``fail`` (already resolved) after ``undo``, the core's part already done. An
        attachment op's body that takes a second argument gets the attachment (``map(k, attach)``), so an
        exporter keeps per-attachment state as the C does in ``attach->priv``."""
        body = buf.ops.get(op)
        if body is None:
            return
        extra = att if att is not None else arg  # the attachment, or a CPU access's direction
        args = (extra,) if extra is not None and _takes_arg(body) else ()
        if fails:
            self._ops.append((self._inline_depth + 1, f"{buf.name}.{op}", fail, list(undo)))
        try:
            self._inline(f"{buf.name}.{op}", lambda: body(self, *args))
        finally:
            if fails:
                self._ops.pop()

    def _run_body(self, what: str, body: Body, fail: str, *args: object, owner: str | None = None) -> bool:
        """A driver body the kernel calls and whose error return (``k.ret("-E...")``) it handles: the error
        goes to ``fail`` (a resolved label); ``owner``: whose references its calls take and drop. Returns
        whether the body can return one."""
        self._ops.append((self._inline_depth + 1, what, fail, []))
        errors = self._op_errors
        try:
            self._inline(what, lambda: body(self, *args), owner=owner)
        finally:
            self._ops.pop()
        return self._op_errors != errors

    def _release(self, ins: Ins, obj: KObject, last: Expr) -> None:
        """The put step, then (when it dropped the last reference) the release callback and the free; a
        file's last fput only queues them for its ____fput thread (``deferred_fput``)."""
        if obj.deferred:
            flag = self.b.work_flag(obj.deferred)
            ins.effects.insert(0, assign(flag, ite(last, 1, flag)))  # reads the count before the put
            self._add(ins)
            return
        self._release_checks(ins, obj, last)
        body, gone = self._release_of(obj)
        if body is None and obj.frees and not self._embedded_fences(obj):  # the memory goes in the same step
            ins.effects.insert(0, assign(obj.life, ite(last, gone, obj.life)))  # reads the count before the put
            self._add(ins)
            return
        after = self._fresh("released")
        ins.branch = (~last, self._lab(after))
        self._add(ins)
        if body is None:
            self._releasing += 1
            self._free_step(obj, gone)
            self._releasing -= 1
        else:
            self._run_release(obj, body, gone)
        self.label(after)

    def deferred_fput(self, obj: KObject) -> None:
        """(the body of ``obj``'s ____fput thread: once queued by the last fput, the release, then the free)"""
        self._releasing += 1  # a run where the file stays open never reaches it: not a vacuous step
        self.work_starts(obj.deferred, f"____fput({obj.name}): the deferred release runs")
        # dma_buf_release()'s WARN_ONs run here, when the queued release starts
        self._release_checks(self.ins[-1], obj, self.b.work_flag(obj.deferred) == 1)
        if isinstance(obj, DmaBuf):
            self.dma_buf_release(obj)
        else:
            self._release_now(obj)
        self.work_ends(obj.deferred)
        self._releasing -= 1

    @core_call
    def dma_buf_release(self, buf: DmaBuf) -> None:
        """The core's ``dma_buf_release()``, run by the last fput's deferred ``__fput``: the exporter's release
        op, then the buffer's memory. Not a driver call: replace it (``@d.core("dma_buf_release")``) to check
        a change of the core's teardown order (sysfs stats, debugfs list, name) against a driver."""
        if not self._releasing:
            raise ModelError(f"thread {self.thread}: dma_buf_release() runs from the last dma_buf_put(); a driver "
                             "calls dma_buf_put (replace it with @driver.core to change the core)")
        self._release_now(buf)

    def _release_now(self, obj: KObject) -> None:
        body, gone = self._release_of(obj)
        if body is None:
            self._free_step(obj, gone)
        else:
            self._run_release(obj, body, gone)

    def _release_checks(self, ins: Ins, obj: KObject, last: Expr) -> None:
        checks: list[tuple[str, Expr, str]] = []
        if isinstance(obj, Fence) and obj.callbacks:
            pending = disj(*[cb.armed == 1 for cb in obj.callbacks])
            checks.append(("fence-release-pending-cb", last & (obj.signaled_v == 0) & pending,
                           f"the last reference to {obj.name} goes while a callback is pending on it (FENCE-13)"))
        if isinstance(obj, DmaBuf):
            atts = [a for a in self.b.attachments if a.buf is obj]
            if atts:
                checks.append(("release-after-detach", last & disj(*[a.v != "NONE" for a in atts]),
                               f"the last reference to {obj.name} goes while it is still attached (REF-9)"))
        ins.checks.extend(checks)

    def _release_of(self, obj: KObject) -> tuple[Body | None, str]:
        body = obj.release if not isinstance(obj, DmaBuf) else obj.ops.get("release")
        gone = GRACE if self.b.rcu_frees(obj) else FREED
        if gone == GRACE:
            self.b.frees_after_grace()
        return body, gone

    def _run_release(self, obj: KObject, body: Body, gone: str) -> None:
        self._releasing += 1
        # the release drops what the object itself holds (its references to sub-objects)
        self._inline(f"{obj.name}.release", lambda: body(self), owner=obj.name)
        self._free_step(obj, gone)
        self._releasing -= 1

    def _embedded_fences(self, obj: KObject) -> list[tuple[Resv, Fence]]:
        """The fences that may sit in a resv ``obj`` embeds (dma_resv_fini puts them when it goes)."""
        return [(r, f) for r in self.b.resvs if r.obj is obj for f in self.b.fences if f.name in r.fences]

    def _free_step(self, obj: KObject, gone: str) -> None:
        """The memory of an object whose last reference went is freed (or kfree_rcu'd); a resv it embeds is
        finished first: dma_resv_fini() puts every fence still in it. An object that ``frees=False`` stays
        (dying) until the driver kfree()s it."""
        if not obj.frees:
            return
        self._resv_fini(obj)
        self._add(Ins(f"{'kfree_rcu' if gone == GRACE else 'free'} {obj.name}", effects=[assign(obj.life, gone)]))

    def _resv_fini(self, obj: KObject) -> None:
        for r, f in self._embedded_fences(obj):
            skip = self._fresh(f"fini_{f.name}")
            self._add(Ins(f"dma_resv_fini({r.name}): {f.name}?", owner=self.owner,
                          branch=(r.fences[f.name] == 0, self._lab(skip)), effects=[assign(r.fences[f.name], 0)]))
            with self._acting_as(r.owner):
                self.dma_fence_put(f, f"dma_resv_fini({r.name}): dma_fence_put({f.name})")
            self.label(skip)

    def _obj(self, obj: KObject) -> None:
        if isinstance(obj, KObject) and obj in self.b.objects:
            return
        what = {Lock: "a lock", Slot: "a slot", Pointer: "a pointer", Field: "a field", Resv: "a resv",
                Attachment: "an attachment", WaitQueue: "a wait queue", Completion: "a completion"}
        kind = next((w for t, w in what.items() if isinstance(obj, t)), None)
        name = getattr(obj, "name", None)
        if kind is not None:
            hint = " (read a pointer with k.ptr_load or k.ptr_use)" if isinstance(obj, Pointer) else ""
            raise ModelError(f"thread {self.thread}: {name!r} is {kind}, not an object with memory: this call takes "
                             f"a kref, mem, fence or dma_buf object{hint}")
        raise ModelError(f"thread {self.thread}: {name or obj!r} is not an object declared on this driver")

    def _ref(self, obj: KObject) -> None:
        self._obj(obj)
        if not obj.refcounted:
            raise ModelError(f"thread {self.thread}: {obj.name} is kmalloc'd memory, not refcounted (use kfree)")

    def _field(self, f: Field) -> None:
        if not isinstance(f, Field) or f not in self.b.d.fields:
            raise ModelError(f"thread {self.thread}: {f!r} is not a field declared on this driver")

    def _resv_use(self, r: Resv) -> None:
        """A dma_resv call dereferences the object embedding the resv (the next call carries the check)."""
        if not isinstance(r, Resv) or r not in self.b.resvs:
            raise ModelError(f"thread {self.thread}: {getattr(r, 'name', r)!r} is not a resv of this driver")
        if r.obj is not None:
            probe = Ins("")
            self._deref(probe, r.obj)
            self._pending_checks.extend(probe.checks)

    def _waitqueue(self, wq: WaitQueue) -> None:
        if not isinstance(wq, WaitQueue) or wq not in self.b.d.waitqueues:
            raise ModelError(f"thread {self.thread}: {wq!r} is not a wait queue declared on this driver")

    def _completion(self, c: Completion) -> Expr:
        if not isinstance(c, Completion) or c not in self.b.d.completions:
            raise ModelError(f"thread {self.thread}: {c!r} is not a completion declared on this driver")
        assert c.done is not None
        return c.done

    def _slot(self, slot: Slot, read: bool = False) -> None:
        if not isinstance(slot, Slot) or slot not in self.b.slots:
            raise ModelError(f"thread {self.thread}: {slot!r} is not a slot declared on this driver")
        if slot.lock is not None:  # the lock that protects it (list_add under the list lock, xa_load under xa_lock)
            rcu = self.b.rcu.get(self.me) if read else None  # a reader may use RCU instead (rcu_dereference)
            unprotected = (slot.lock.holder != self.me) & (lift(True) if rcu is None else rcu == 0)
            self._pending_checks.append(("lockdep-assert-held", unprotected,
                                         f"{self.me} accesses {slot.name} without holding {slot.lock.name}, the lock "
                                         "that protects it"))

    def _gfp(self, gfp: str) -> str:
        if gfp not in GFPS:
            raise ModelError(f"thread {self.thread}: GFP flags {gfp!r}: one of {', '.join(GFPS)}")
        return gfp

    def _deref(self, ins: Ins, obj: KObject, when: Expr | None = None, *, init: bool = True) -> None:
        """The call dereferences ``obj`` (when ``when`` holds: a lookup only if it finds the object);
        ``init=False``: it only stores the pointer (a use by whoever finds it checks the object is set up)."""
        w = lift(True) if when is None else when
        rcu = self.b.rcu.get(self.me)
        unprotected = (obj.life == GRACE) if rcu is None else (obj.life == GRACE) & (rcu == 0)
        why = f"{obj.name} was freed" + (" (or kfree_rcu'd, outside an RCU read-side section)" if self.b.plan.rcu else "")
        ins.checks.append(("use-after-free", w & ((obj.life == FREED) | unprotected), why))
        if init and self.me not in self.b.allocators.get(obj.name, ()):
            ins.checks.append(("use-before-init", w & ((obj.life == UNBORN) | (obj.life == ALLOC)),
                               f"{obj.name} is not set up yet"))

    def _take_ref(self, ins: Ins, obj: KObject, when: Expr | None = None) -> None:
        """The caller takes a reference (``when``: only in the states where that holds)."""
        held = self.b.held(self.owner, obj)
        w = lift(True) if when is None else when
        ins.checks.append(("kref-overflow", w & ((obj.count >= obj.max_refs) | (held >= obj.max_refs)),
                           f"more references to {obj.name} than the model tracks ({obj.max_refs})"))
        ins.effects += [assign(obj.count, ite(w & (obj.count < obj.max_refs), obj.count + 1, obj.count)),
                        assign(held, ite(w & (held < obj.max_refs), held + 1, held))]

    def _hand_over(self, ins: Ins, obj: KObject, to: str, what: str) -> None:
        """The caller's reference to ``obj`` becomes ``to``'s (an object that now owns it)."""
        mine, its = self.b.held(self.owner, obj), self.b.held(to, obj)
        ins.checks.append(("kref-put-noref", mine == 0, f"{self.owner} hands {to} {what}"))
        ins.effects += [assign(mine, ite(mine > 0, mine - 1, 0)), assign(its, 1)]

    def _alloc(self, ins: Ins, gfp: str) -> None:
        if "fs_reclaim" in reclaim_maps(gfp):
            self._direct_reclaim(gfp)
        ins.acquires = ins.acquires + reclaim_maps(gfp)
        if gfp in SLEEPING_GFP:
            self._sleep_check(ins, f"kmalloc({gfp})")
            if self._signalling:
                ins.checks.append(("sig-no-alloc", lift(True), f"a fence signalling path allocates with {gfp}"))

    def _direct_reclaim(self, gfp: str) -> None:
        """A GFP_KERNEL allocation may enter direct reclaim before it returns: shrink_slab() runs the driver's
        registered shrinkers in the allocating thread, with its locks held, under fs_reclaim (PF_MEMALLOC: a
        shrinker's own allocations do not reclaim again)."""
        shrinkers = [t for t in self.b.d.threads if t.context == "reclaim"]
        if not shrinkers or self._reclaiming or self.context == "reclaim":
            return
        done = self._fresh("no_reclaim")
        self.may_goto(done, f"kmalloc({gfp}): enough free memory?")
        self._reclaiming += 1
        try:
            for t in shrinkers:
                self._inline(f"reclaim.{t.name}", lambda t=t: t.body(self, *t.args))
        finally:
            self._reclaiming -= 1
        self.label(done)

    def _fence_wait(self, ins: Ins, pending: Expr, intr: bool, fail: str | None, what: str,
                    timeout: str | None = None) -> None:
        """A wait for fences: it sleeps, lockdep sees dma_fence_map taken (v5.9+), a signalling path may not do
        it (SIG-3), the interruptible form returns -ERESTARTSYS to ``fail`` while still pending, and one with a
        finite timeout returns 0 to ``timeout`` while still pending."""
        self._no_fail_unless(intr, fail, ins.text.split("(")[0], "intr=True")
        self._sleep_check(ins, ins.text)
        if self.b.fence_annotations:
            ins.acquires = ("dma_fence_map",)
        if self._signalling:
            ins.checks.append(("sig-no-fence-wait", lift(True), f"a fence signalling path waits on {what}"))
        if fail:
            ins.alts.append(Alt("erestartsys", pending, [], self._lab(fail), f"{ins.text} -> -ERESTARTSYS"))
        if timeout:
            ins.alts.append(Alt("timeout", pending, [], self._lab(timeout), f"{ins.text} -> 0 (timed out)"))
        self._add(ins)

    def _no_fail_unless(self, can_fail: bool, fail: str | None, call: str, how: str) -> None:
        """An uninterruptible call never fails: a ``fail`` label there would be silently ignored."""
        if fail and not can_fail:
            raise ModelError(f"thread {self.thread}: {call}(fail={fail!r}) cannot fail without {how}")

    def _sleep_check(self, ins: Ins, what: str) -> None:
        ins.checks.append(("sleep-in-atomic", self.atomic(), f"{what} may sleep, in atomic context"))

    def _lock_ins(self, lk: Lock, text: str, *, irqs: bool = False, bh: bool = False, keep: bool = True) -> Ins:
        if lk not in self.b.locks:
            raise ModelError(f"thread {self.thread}: {lk.name} is not a lock declared on this driver")
        if isinstance(lk, RwSem):
            raise ModelError(f"thread {self.thread}: {lk.name} is an rwsem: take it with down_read/down_write")
        ins = Ins(text, owner=self.owner, guard=lk.holder == "FREE", waits_lock=lk, acquires=(lk.name,))
        self.b.note_acquire(self, ins, lk, irqs, bh)
        if keep:
            ins.effects.append(assign(lk.holder, self.me))
            ins.take = lk
            for flag, table, kind in ((irqs, self.b.irqoff, "irqoff"), (bh, self.b.bhoff, "bhoff")):
                if flag:
                    v = self.b.counter(table, self.me, kind)
                    ins.effects.append(assign(v, ite(v < 3, v + 1, v)))
        return ins

    def _lock(self, lk: Lock, *, sleeps: bool, text: str, fail: str | None = None, fail_text: str = "",
              trylock: bool = False, irqs: bool = False, bh: bool = False) -> None:
        ins = self._lock_ins(lk, text, irqs=irqs, bh=bh)
        if sleeps:
            self._sleep_check(ins, text)
        if trylock:
            ins.waits_lock = None  # a trylock never blocks, and lockdep records no dependency for it
            ins.acquires = tuple(a for a in ins.acquires if a != lk.name)
            if fail is not None:  # without it the caller knows nobody else can hold the lock
                ins.alts.append(Alt("busy", lk.holder != "FREE", [], self._lab(fail), f"{text} -> 0"))
        elif fail:
            ins.alts.append(Alt("eintr", lift(True), [], self._lab(fail), f"{text} -> {fail_text}"))
        self._add(ins)

    def _unlock(self, lk: Lock, text: str, *, irqs: bool = False, bh: bool = False, irq_on: bool = False,
                extra: list[Effect] | None = None) -> None:
        ins = Ins(text, owner=self.owner, drop=lk)
        ins.checks.append(("unlock-not-held", lk.holder != self.me, f"{self.me} does not hold {lk.name}"))
        ins.effects.extend(extra or [])  # before the holder changes: they may read who holds the lock
        ins.effects.append(assign(lk.holder, ite(lk.holder == self.me, "FREE", lk.holder)))
        if irqs:
            v = self.b.counter(self.b.irqoff, self.me, "irqoff")
            ins.effects.append(assign(v, 0 if irq_on else ite(v > 0, v - 1, 0)))
            if irq_on:  # lockdep marks every lock still held as taken with interrupts on (mark_held_locks)
                ins.marks.extend(self.b.held_irq_on_marks(self.me, exclude=lk))
        if bh:
            v = self.b.counter(self.b.bhoff, self.me, "bhoff")
            ins.effects.append(assign(v, ite(v > 0, v - 1, 0)))
        self._add(ins)


# Calls that take no text of their own (control flow, internal steps); every other call accepts ``text=``
_NO_TEXT = {"atomic", "call", "goto", "label", "ret", "work_ends", "deferred_fput", "me", "owner"}


def _accepts_text(fn: Callable[..., None]) -> Callable[..., None]:
    """Give a call ``text=``: how the program's source says it (shown in traces instead of the built-in name);
    as on the calls that name it themselves (``k.dma_fence_put(f, "...")``), one string after the call's own
    positional arguments is the text too (``k.spin_lock(lk, "...")``)."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    npos = None if any(p.kind is p.VAR_POSITIONAL for p in params) else len(
        [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])

    @functools.wraps(fn)
    def call(self: Code, *args: Any, text: str = "", **kwargs: Any) -> Any:
        if npos is not None and len(args) == npos + 1 and isinstance(args[-1], str) and not text:
            args, text = args[:-1], args[-1]
        if not isinstance(text, str):
            raise ModelError(f"thread {self.thread}: {fn.__name__}(text=...) is a string, got {type(text).__name__}")
        outer, steps = self._text_next, len(self.ins)
        self._text_next = text or outer
        try:
            return fn(self, *args, **kwargs)
        finally:  # an enclosing call's text stays pending only if this call wrote no step
            self._text_next = outer if len(self.ins) == steps else ""
    return call


_MIXINS = (SyncobjCalls, MmapCalls, GemCalls)  # calls of kernel objects kept in modules of their own
for _name, _fn in [*(i for m in _MIXINS for i in vars(m).items()), *vars(Code).items()]:
    if (inspect.isfunction(_fn) and not _name.startswith("_") and _name not in _NO_TEXT
            and "text" not in inspect.signature(_fn).parameters):
        setattr(Code, _name, _accepts_text(_fn))

# Calls that take a Value as it is (a helper gets the variable; a condition reads it), not the object it holds
_KEEPS_VALUES = _NO_TEXT | {"if_", "goto_if", "warn_on", "set", "wait_event", "may_goto", "ptr_load"}
_NULL_OK = {"dma_fence_get", "dma_fence_put", "kfree", "kfree_rcu"}  # if (!p) return: NULL is no bug
# if (WARN_ON(!p)) return -EINVAL: NULL is the kernel's WARN (a driver bug it survives), not an oops
_NULL_WARN = {"dma_fence_signal", "dma_fence_signal_locked", "dma_buf_put"}
_STORES = {"ptr_store", "ptr_xchg"}  # store the value itself: NULL and ERR_PTR are values too


def _values_in(args: tuple, kwargs: dict) -> Value | None:
    for a in (*args, *kwargs.values()):
        for x in a if isinstance(a, tuple) else (a,):
            if isinstance(x, Value):
                return x
    return None


def _replace(args: tuple, kwargs: dict, val: Value, by: object) -> tuple[tuple, dict]:
    def sub(a: object) -> object:
        if isinstance(a, tuple):
            return tuple(by if x is val else x for x in a)
        return by if a is val else a
    return tuple(sub(a) for a in args), {k: sub(a) for k, a in kwargs.items()}


def _on_values(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let a call take a local variable (``Value``) where it takes an object: one step branches on what the
    variable holds, and each branch makes the call on that object (the branch reads only the thread's own
    variable, so the interleavings are those of the call)."""
    name = fn.__name__

    @functools.wraps(fn)
    def call(self: Code, *args: Any, **kwargs: Any) -> Any:
        val = _values_in(args, kwargs)
        if val is None:
            return fn(self, *args, **kwargs)
        if val.thread != self.thread:
            raise ModelError(f"thread {self.thread}: {name}({val.var}): {val.var} is a local variable of "
                             f"{val.thread}; hand the object over through a pointer or a slot")
        end = self._fresh("endcall")
        cases = [(t, self._fresh(f"{val.var}={t.name}")) for t in val.targets]
        said = kwargs.get("text") or ""  # the program's own words for the call name its first step too
        ins = Ins(f"{said or name + '(' + val.var + ')'}: on the object {val.var} holds", owner=self.owner,
                  switch=[(val.is_(t), self._lab(lab)) for t, lab in cases])
        store = name in _STORES
        nulls: list[tuple[object, str]] = []
        if store:
            nulls.append((None, self._fresh(f"{val.var}=NULL")))
            if val.err:
                nulls.append((ERR_PTR, self._fresh(f"{val.var}=ERR_PTR")))
            ins.switch += [(val.null if x is None else val.is_err, self._lab(lab)) for x, lab in nulls]
        else:
            if name in _NULL_WARN:
                ins.checks.append(("driver-assert", val.null, f"{val.var} is NULL: WARN_ON(!{val.var}) in "
                                   f"{name}(), which returns without doing anything"))
            elif name not in _NULL_OK and not kwargs.get("null_ok"):
                ins.checks.append(("null-deref", val.null, f"{val.var} is NULL: {name}() dereferences it"))
            if val.err:
                ins.checks.append(("null-deref", val.is_err, f"{val.var} is an ERR_PTR: {name}() dereferences it "
                                   "(the code checks for NULL, not IS_ERR)"))
        at = len(self.ins)
        self._add(ins)
        self.goto(end)
        results, spans = [], []
        for obj, lab in [*cases, *nulls]:
            self.label(lab)
            a, kw = _replace(args, kwargs, val, obj)
            first = len(self.ins)
            results.append(call(self, *a, **kw))
            spans.append((first, len(self.ins)))
            self.goto(end)
        self.dispatches.append((at, spans))
        self.label(end)
        outs = [r for r in results if isinstance(r, Value)]
        if outs and len(outs) == len(results):  # old = xchg(&p, fence): one variable, set by each branch
            first = outs[0]
            if any(o.targets != first.targets or o.err != first.err for o in outs):
                return None
            for o in outs[1:]:
                first.also_set_by(o)
            return first
        return None
    sig = inspect.signature(fn)  # the call's own parameters (help(), the CLI's hints), text= included
    if "text" not in sig.parameters:
        sig = sig.replace(parameters=[*sig.parameters.values(),
                                      inspect.Parameter("text", inspect.Parameter.KEYWORD_ONLY, default="")])
    call.__signature__ = sig  # type: ignore[attr-defined]
    return call


def _library_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A kernel call this library writes as a program: the branches inside it that a program never takes
    (the non-last handle put, an export already cached) are the kernel's, not dead code of the program."""
    @functools.wraps(fn)
    def call(self: Code, *args: Any, **kwargs: Any) -> Any:
        first = len(self.ins)
        self._library += 1
        try:
            return fn(self, *args, **kwargs)
        finally:
            self._library -= 1
            if self._library == 0:
                self.library_calls.append((first, len(self.ins)))
    return call


for _m in _MIXINS:
    for _name, _fn in list(vars(_m).items()):
        if inspect.isfunction(_fn) and not _name.startswith("_"):
            setattr(Code, _name, _library_call(getattr(Code, _name)))
# userspace close(fd): its -EBADF branch is the kernel's, not dead code where nobody else closes the fd; and
# drm_exec's loop: its prelocked and contention steps a two-transaction program never reaches are drm_exec's
for _name in ("close", "drm_exec_init", "drm_exec_lock_obj", "drm_exec_prepare_obj", "drm_exec_fini"):
    setattr(Code, _name, _library_call(getattr(Code, _name)))

for _name, _fn in [*((n, f) for m in _MIXINS for n, f in vars(m).items() if n not in vars(Code)), *vars(Code).items()]:
    if inspect.isfunction(_fn) and not _name.startswith("_") and _name not in _KEEPS_VALUES:
        setattr(Code, _name, _on_values(_fn))

_HERE = os.path.dirname(os.path.abspath(__file__))


def _chain_nodes(head: Fence) -> list[Fence]:
    """A timeline from ``head`` back through each chain node's ``prev`` (a plain fence ends it)."""
    nodes: list[Fence] = []
    n: Fence | None = head
    while n is not None and n not in nodes:
        nodes.append(n)
        links = getattr(n, "chain_links", None)
        n = links[1] if links is not None and len(links) > 1 else None
    return nodes


def _takes_arg(body: Callable[..., None]) -> bool:
    """Whether a body takes an argument after ``k`` (or *args)."""
    try:
        params = list(inspect.signature(body).parameters.values())
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_POSITIONAL for p in params) or len(
        [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= 2


def sync_file_wake(sf: KObject, wq: WaitQueue) -> Callable[[Code], None]:
    """fence_check_cb_func(): the sync_file's callback wakes its pollers (it dereferences the sync_file)."""
    def fence_check_cb_func(k: Code) -> None:
        k.use(sf, f"fence_check_cb_func(): wake_up_all(&{sf.name}->wq)")
        k.wake_up(wq, f"wake_up_all(&{sf.name}->wq)")
    return fence_check_cb_func


def _caller() -> tuple[str, int] | None:
    """The first frame outside this package: the line of the driver program that wrote the call."""
    f = sys._getframe(2)
    while f is not None and os.path.dirname(os.path.abspath(f.f_code.co_filename)) == _HERE:
        if f.f_code in LIBRARY_BODIES:
            return None  # a call of a body the library writes: blamed on that body's declaration
        f = f.f_back
    return (f.f_code.co_filename, f.f_lineno) if f is not None else None


# code objects of thread bodies the library writes for the user (d.gpu's job), whose calls have no user line
LIBRARY_BODIES: set[object] = set()


def declared_at() -> tuple[str, int] | None:
    """The driver program's line that called the library function calling this (a declaration)."""
    f = sys._getframe(1)
    while f is not None and os.path.dirname(os.path.abspath(f.f_code.co_filename)) == _HERE:
        f = f.f_back
    return (f.f_code.co_filename, f.f_lineno) if f is not None else None


_PUBLISH = {"fd": "fd_install", "idr": "idr_alloc", "xarray": "xa_alloc", "list": "list_add", "ptr": "WRITE_ONCE"}
_LOOKUP = {"fd": "fget", "idr": "idr_find+kref_get", "xarray": "xa_load+kref_get", "list": "list walk+kref_get",
           "ptr": "READ_ONCE+kref_get"}
_PEEK = {"fd": "fget_raw", "idr": "idr_find", "xarray": "xa_load", "list": "list walk", "ptr": "READ_ONCE"}
_REMOVE = {"fd": "close_fd", "idr": "idr_remove", "xarray": "xa_erase", "list": "list_del", "ptr": "xchg(NULL)"}
SLOT_KINDS = tuple(_PUBLISH)


def _is_error(value: object) -> bool:
    """A C return value that is an error: a negative errno, as a number or a name ("-EINVAL", "ERR_PTR(...)")."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value < 0
    return isinstance(value, str) and (value.strip().startswith("-") or value.strip().startswith("ERR_PTR"))
