"""What every component shares while one model is built: names, locks, build facts.

``BuildContext`` holds the model under construction, the importer index set
and the registered kernel calls (``model.components.program.Program``);
``BuildInfo`` records what properties need to know about the generated
actions. Lock metadata conventions (holds/acquires, pseudo-locks) are
described in ``program.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dmabuf_check.model.expr import Expr, Param
from dmabuf_check.model.lang import Action, Assign, FenceSet, ForEach, Lock, Model, Variable
from dmabuf_check.model.lockdep_names import PRIMED_CHAIN as PRIMED_ORDER  # noqa: F401 - the lock vocabulary lives there
from dmabuf_check.model.lockdep_names import TRANSIENT  # noqa: F401
from dmabuf_check.model.types import IndexSet, ModelError, Ref, Type

IDLE = "IDLE"
EXP = "EXP"
SIG = "SIG"
FREE = "FREE"


@dataclass(eq=False)
class LockRes:
    """A lock of the model: its declaration, holder variable and what releasing it resets."""

    name: str  # instance name used in action metadata (resv, resv_b1, or a design lock)
    lock_class: str  # resv locks share reservation_ww_class_mutex; PRIMED_ORDER names them "resv"
    holder: Expr
    decl: Lock
    on_release: list[Assign] = field(default_factory=list)  # e.g. debug builds drop reserved fence slots


@dataclass
class StepInfo:
    """One generated action with what properties need to know about it."""

    action: Action
    at: Expr  # "about to run": the guard of an uncommitted first step, else its program-counter condition
    role: str  # what kernel call it belongs to: map, submit, move, signal, ...
    buffer: int | None
    tags: frozenset[str]  # points of interest inside the call: done, add_fence, ...
    param: Param | None


@dataclass
class BuildInfo:
    """What the builder knows about the model it produced (read by properties/catalog)."""

    buffers: int
    kinds: tuple[str, ...]  # the importer mix, one kind per importer
    steps: list[StepInfo] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)
    locks: dict[str, LockRes] = field(default_factory=dict)
    # actions that continue a call already under way (a thread inside a kernel call, past its first
    # step): the liveness properties assume they run when they can (strong fairness), new calls need not
    continuations: set[str] = field(default_factory=set)
    # (actor, pc label) -> the actions that can leave that point, and the condition under which the call's
    # way on is free there (its lock is free, its wait is over); when that holds and no action is enabled,
    # the call's checks sent it elsewhere in the kernel: the model's guess of a branch, not a hang
    branches: dict[tuple[str, str], list[tuple[Action, Expr | None]]] = field(default_factory=dict)

    def with_tag(self, tag: str, buffer: int | None = None) -> list[StepInfo]:
        return [s for s in self.steps if tag in s.tags and (buffer is None or s.buffer == buffer)]

    def with_role(self, role: str) -> list[StepInfo]:
        return [s for s in self.steps if s.role == role]


class BuildContext:
    """The model under construction, its importer index set, and the registered programs."""

    def __init__(self, model: Model, importers: IndexSet, buffers: int, kinds: tuple[str, ...]):
        self.m = model
        self.I = importers
        self.buffers = buffers
        self.info = BuildInfo(buffers, kinds)
        self.programs: list = []  # the kernel calls, in registration order (program.Program adds itself)
        self.fence_sets: dict[str, FenceSet] = {}
        self.pc: Variable | None = None
        self.exp_pc: Expr | None = None
        self.exp_pc_labels: list[str] = []
        self.imp_pc_labels: list[str] = []
        self.late: list = []  # hand-written steps that need the program counters (ww acquire loops)
        self.ready: Expr | None = None  # with a mixed mix: the importers are plugged in (see buffer.declare_kinds)

    # ---- naming and declarations ------------------------------------------
    def name(self, base: str, b: int | None) -> str:
        """Per-buffer variables are unrolled: ``owner`` with one buffer, ``owner_b0``, ``owner_b1`` with two."""
        return base if b is None or self.buffers == 1 else f"{base}_b{b}"

    def var(self, base: str, b: int | None, type: Type, init: object, **meta: str) -> Expr:
        return self.m.var(self.name(base, b), type, init, **meta)

    def arr(self, base: str, b: int | None, type: Type, init: object, **meta: str) -> Variable:
        return self.m.array(self.name(base, b), self.I, type, init, **meta)

    def g(self, base: str, b: int | None = None) -> Expr:
        return self.m.variable(self.name(base, b)).ref()

    def a(self, base: str, b: int | None = None) -> Variable:
        return self.m.variable(self.name(base, b))

    def has(self, base: str, b: int | None = None) -> bool:
        return any(v.name == self.name(base, b) for v in self.m.variables)

    def holder_type(self) -> Type:
        return Ref(self.I, FREE, EXP, SIG)

    def add_lock(self, name: str, lock_class: str, holder_base: str, b: int | None, *, kernel: str,
                 meaning: str, rule: str) -> LockRes:
        holder = self.var(holder_base, b, self.holder_type(), FREE, kernel=kernel, meaning=meaning, rule=rule)
        decl = self.m.lock(name, holder, FREE, {EXP: "exporter", SIG: "signaller"}, kernel=kernel,
                           lock_class=lock_class)
        res = LockRes(name, lock_class, holder, decl)
        self.info.locks[name] = res
        return res

    def lock(self, name: str) -> LockRes:
        if name not in self.info.locks:
            raise ModelError(f"no lock {name!r} in this model")
        return self.info.locks[name]

    def pc_of(self, actor: str, i: Param | None) -> Expr | None:
        if actor == "importers":
            return None if self.pc is None else self.pc[i]
        if actor == "exporter":
            return self.exp_pc
        return None



def foreach(index: IndexSet, body) -> ForEach:
    p = Param("j", index)
    return ForEach(p, tuple(body(p)))
