"""The modeling language: typed state variables and guarded-command actions.

A model is a list of variables (global, or one per member of a symmetric
index set), a list of actions (guard and sequential assignments, optionally
parameterised by a member), and declarations of the resources the protocol
waits on: locks (with their holder variable) and fences (with their pending
condition and the action that signals them). Every variable and action
carries kernel metadata: the kernel's own name, a one-line meaning, and the
rule it stands for.

The model is data. Back ends (``model.pycompile`` for the explicit engine and
trace replay, ``checker`` z3 encodings) read it; none of them is written by
hand per model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dmabuf_check.model.expr import Expr, Param, Var, Variable, conj, ite, lift
from dmabuf_check.model.types import IndexSet, ModelError, Type

MAX_VALUES = 256  # values of one variable: one byte per slot of the explicit engine's state


@dataclass(frozen=True, eq=False)
class Assign:
    """``target := value``; later assignments of the same action read this one."""

    target: Var
    value: Expr


@dataclass(frozen=True, eq=False)
class ForEach:
    """Assignments repeated for every member ``param`` of an index set, in member order."""

    param: Param
    body: tuple[Assign, ...]


Effect = Assign | ForEach


@dataclass(eq=False)
class Lock:
    """A lock whose holder is a state variable; ``free`` is the holder value meaning unlocked.

    ``actors`` maps the holder's special values to actor names (EXP -> exporter);
    member values of a ``Ref`` holder name the member itself (importer i).
    """

    name: str
    holder: Variable
    free: str
    actors: dict[str, str]
    kernel: str = ""
    lock_class: str = ""
    # what lockdep knows of its use (driver programs fill these): a sleeping lock or a spinning one; per irq
    # state (HARDIRQ, SOFTIRQ) the variables that record IN-<state> and <state>-ON usage, for a lock used in
    # mixed contexts (the irq-inconsistent-lock property reads them)
    sleeps: bool = True
    usage: dict[str, tuple[str, str]] = field(default_factory=dict)

    def held(self) -> Expr:
        return Var(self.holder) != self.free


@dataclass(eq=False)
class FenceSet:
    """One fence per member of ``index``; pending(j) says it is unsignaled, ``signal`` names its action.

    With ``index`` None the set is a single global fence (an exporter's own
    fence timeline): ``pending`` is then called with None and ``signal`` is an
    action without parameters.
    """

    name: str
    index: IndexSet | None
    pending: Callable[[Expr | None], Expr]
    signal: str
    kernel: str = "dma_fence"
    signallers: tuple[str, ...] = ()  # the actors whose code signals it (one: the wait-for graph follows it)
    # actor -> the condition under which its code can still signal the fence (a driver program's threads): the
    # wait-for graph has an edge fence -> actor while that actor is the only one that can
    can_signal: dict[str, Expr] = field(default_factory=dict)
    # True: the wait ends only once every actor of can_signal has acted (the readers of an rwsem, say): an edge
    # to each of them; False: any one of them ends it, so an edge only while just one can
    needs_all: bool = False


@dataclass(frozen=True, eq=False)
class Waits:
    """An action's wait declaration: while ``when`` holds and the guard is false, its actor is blocked.

    ``on`` is a fence set (blocked on every pending fence) or a lock (blocked
    acquiring it while someone holds it).
    """

    on: FenceSet | Lock
    when: Expr


@dataclass(eq=False)
class Action:
    """A guarded command, one transition per binding of its parameters.

    ``actor`` is ``exporter``, or the name of the index set whose member the
    first parameter is (the importer doing the call), or ``hardware`` for
    fence completion.
    """

    name: str
    params: tuple[Param, ...]
    guard: Expr
    effects: tuple[Effect, ...]
    actor: str
    kernel: str = ""
    meaning: str = ""
    rule: str = ""
    waits: Waits | None = None
    signals: FenceSet | None = None
    call: str = ""  # how the per-thread rendering prints the call, e.g. "dma_buf_map_attachment(att{i})"
    # Lock metadata for lock-order analyses (lockdep style), pseudo-locks included
    # (fs_reclaim for an allocation, dma_fence_map for a fence wait or a signalling
    # section, mmap_lock for a fault): ``holds`` are the locks the actor holds when
    # the action starts, outermost first; ``acquires`` the ones it takes, in order.
    # What an action acquires and does not release appears in the next step's holds.
    acquires: tuple[str, ...] = ()
    holds: tuple[str, ...] = ()
    # lockdep usage the action registers when it fires: (lock, usage such as IN-HARDIRQ-W or HARDIRQ-ON-W,
    # the condition on the state it fires from); driver programs fill it, the lock report reads it
    marks: tuple[tuple[str, str, Expr], ...] = ()


@dataclass(eq=False)
class Model:
    """A protocol model: variables, actions, resources, and the valid end states."""

    name: str
    title: str = ""
    params: dict[str, object] = field(default_factory=dict)
    index_sets: dict[str, IndexSet] = field(default_factory=dict)
    variables: list[Variable] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    locks: list[Lock] = field(default_factory=list)
    fences: list[FenceSet] = field(default_factory=list)
    valid_end: Expr | None = None
    source: str = ""  # file the model is defined in, for reports that point at it

    # ---- declarations -------------------------------------------------
    def index_set(self, name: str, size: int, member_label: str) -> IndexSet:
        if size < 1:
            raise ModelError(f"index set {name} needs at least one member, got {size}")
        s = IndexSet(name, size, member_label)
        self.index_sets[name] = s
        return s

    def _add(self, v: Variable) -> Variable:
        if any(w.name == v.name for w in self.variables):
            raise ModelError(f"variable {v.name} declared twice")
        v.type.encode(v.init)  # the initial value must lie in the domain
        if v.type.domain_size() > MAX_VALUES:  # every engine reads one definition: refuse what one cannot store
            raise ModelError(f"variable {v.name} has {v.type.domain_size()} values ({v.type}); a variable has at most "
                             f"{MAX_VALUES} (the explicit engine stores one byte per slot)")
        self.variables.append(v)
        return v

    def var(self, name: str, type: Type, init: object, **meta: str) -> Var:
        """Declare a global variable; returns the expression that reads it."""
        return self._add(Variable(name, type, init, None, **meta)).ref()

    def array(self, name: str, index: IndexSet, type: Type, init: object, **meta: str) -> Variable:
        """Declare one variable per member of ``index``; index the result: ``ref[i]``."""
        return self._add(Variable(name, type, init, index, **meta))

    def lock(self, name: str, holder: Var, free: str, actors: dict[str, str], **meta: str) -> Lock:
        lk = Lock(name, holder.decl, free, actors, **meta)
        self.locks.append(lk)
        return lk

    def fence_set(self, name: str, index: IndexSet | None, pending: Callable[[Expr | None], Expr], signal: str,
                  **meta: str) -> FenceSet:
        fs = FenceSet(name, index, pending, signal, **meta)
        self.fences.append(fs)
        return fs

    def action(
        self,
        name: str,
        guard: object,
        effects: Sequence[Effect] = (),
        *,
        params: Sequence[Param] = (),
        actor: str = "exporter",
        **meta: object,
    ) -> Action:
        if any(a.name == name for a in self.actions):
            raise ModelError(f"action {name} declared twice")
        for k in ("acquires", "holds"):
            v = meta.get(k, ())
            if not isinstance(v, tuple) or not all(isinstance(x, str) and x for x in v):
                raise ModelError(f"action {name}: {k} must be a tuple of lock names, got {v!r}")
        a = Action(name, tuple(params), lift(guard), tuple(effects), actor, **meta)  # type: ignore[arg-type]
        self.actions.append(a)
        return a

    def replace_action(self, name: str, **changes: object) -> Action:
        """Change fields of one action in place (seeded-bug variants)."""
        for a in self.actions:
            if a.name == name:
                for k, v in changes.items():
                    if not hasattr(a, k):
                        raise ModelError(f"action has no field {k}")
                    setattr(a, k, lift(v) if k == "guard" else v)
                return a
        raise ModelError(f"no action {name} to replace")

    # ---- queries ------------------------------------------------------
    def action_named(self, name: str) -> Action:
        for a in self.actions:
            if a.name == name:
                return a
        raise ModelError(f"model {self.name} has no action {name!r}")

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise ModelError(f"model {self.name} has no variable {name!r}")

    def param(self, name: str, index: IndexSet) -> Param:
        return Param(name, index)


def assign(target: Var, value: object) -> Assign:
    if not isinstance(target, Var):
        raise ModelError("only a state variable can be assigned")
    return Assign(target, lift(value))


def for_each(index: IndexSet, body: Callable[[Param], Sequence[Assign]], name: str = "j") -> ForEach:
    p = Param(name, index)
    return ForEach(p, tuple(body(p)))


def when(cond: object, target: Var, value: object) -> Assign:
    """Conditional assignment: ``if cond: target := value`` (as an ite)."""
    return Assign(target, ite(cond, value, target))


__all__ = [
    "Action",
    "Assign",
    "FenceSet",
    "ForEach",
    "Lock",
    "Model",
    "Variable",
    "Waits",
    "assign",
    "conj",
    "for_each",
    "when",
]
