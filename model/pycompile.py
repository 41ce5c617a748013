"""Compile a model to Python source over a flat byte-vector state.

A state is a ``bytes`` object: one byte per slot, global variables first, then
one block of per-member variables for each member of the index set (member m's
variable k lives at ``G + m*W + k``). Contiguous member blocks make importer
symmetry a sort of byte slices.

Every action is unrolled into its *instances* (one per parameter binding) and
every quantifier over the (now fixed-size) index set is unrolled, so the code
generated for an instance is straight-line Python over local variables. The
explicit engine stitches these fragments into its search loop; trace replay
and the reference helpers below use the same fragments through ``Compiled``.
Nothing here walks an expression tree while a state is explored.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from dmabuf_check.model.expr import Const, Expr, MemberConst, Op, Param, Quant, Var
from dmabuf_check.model.lang import Action, Assign, ForEach, Model, Variable
from dmabuf_check.model.typecheck import cast_table, int_range, resolve_actions, resolve_condition
from dmabuf_check.model.types import BoolType, ModelError, RangeType, RefType, Type


class DomainError(ModelError):
    """An action assigned a value outside its variable's domain."""


@dataclass(frozen=True)
class Instance:
    """One action instance: the action and its member binding (0-based)."""

    action: Action
    binding: tuple[int, ...]

    @property
    def label(self) -> str:
        if not self.binding:
            return self.action.name
        return f"{self.action.name}({', '.join(str(m + 1) for m in self.binding)})"


@dataclass
class Layout:
    """Where each variable lives in the flat state."""

    model: Model
    globals_: list[Variable]
    members: list[Variable]
    n_members: int
    size: int = 0
    slot_names: list[str] = field(default_factory=list)
    slot_vars: list[tuple[Variable, int | None]] = field(default_factory=list)

    @classmethod
    def of(cls, model: Model) -> Layout:
        sets = {v.index.name for v in model.variables if v.index is not None}
        if len(sets) > 1:
            raise ModelError("the explicit engine supports one index set per model for now: " + ", ".join(sorted(sets)))
        gl = [v for v in model.variables if v.index is None]
        mem = [v for v in model.variables if v.index is not None]
        n = mem[0].index.size if mem else 0
        lay = cls(model, gl, mem, n)
        for v in gl:
            lay.slot_vars.append((v, None))
            lay.slot_names.append(v.name)
        for m in range(n):
            for v in mem:
                lay.slot_vars.append((v, m))
                lay.slot_names.append(f"{v.name}[{m + 1}]")
        lay.size = len(lay.slot_vars)
        for v in model.variables:
            if v.type.domain_size() > 256:
                raise ModelError(f"variable {v.name} has {v.type.domain_size()} values; the explicit engine stores at most 256")
        return lay

    @property
    def n_globals(self) -> int:
        return len(self.globals_)

    @property
    def width(self) -> int:
        return len(self.members)

    def slot(self, v: Variable, member: int | None) -> int:
        if v.index is None:
            return self.globals_.index(v)
        return self.n_globals + member * self.width + self.members.index(v)  # type: ignore[operator]

    def initial(self) -> bytes:
        return bytes(v.type.encode(v.init) - offset(v.type) for v, _ in self.slot_vars)

    def decode(self, state: bytes) -> dict[str, object]:
        """The state as {variable: value} (per-member variables as lists), for traces and JSON."""
        out: dict[str, object] = {}
        for v in self.globals_:
            out[v.name] = _show(v, state[self.slot(v, None)])
        for v in self.members:
            out[v.name] = [_show(v, state[self.slot(v, m)]) for m in range(self.n_members)]
        return out

    def decode_slot(self, slot: int, code: int) -> object:
        return _show(self.slot_vars[slot][0], code)

    def encode(self, values: dict[str, object]) -> bytes:
        """Inverse of ``decode``; raises ModelError on an unknown variable or value."""
        out = bytearray(self.size)
        for v, m in self.slot_vars:
            if v.name not in values:
                raise ModelError(f"state has no value for {v.name}")
            raw = values[v.name] if m is None else values[v.name][m]  # type: ignore[index]
            out[self.slot(v, m)] = _parse(v, raw)
        return bytes(out)


def offset(t: Type) -> int:
    """What a stored byte adds to give the value: a range lo..hi is stored as value - lo (0..hi-lo)."""
    return t.lo if isinstance(t, RangeType) else 0


def _show(v: Variable, code: int) -> object:
    t = v.type
    if isinstance(t, RefType):
        return t.show(code)
    return t.decode(code + offset(t))


def _parse(v: Variable, raw: object) -> int:
    t = v.type
    if isinstance(t, RefType) and isinstance(raw, str) and raw not in t.specials:
        label = t.index.member_label + " "
        if raw.startswith(label) and raw[len(label):].isdigit():
            return len(t.specials) + int(raw[len(label):]) - 1
    return t.encode(raw) - offset(t)


_SINGLE_BYTES = [bytes((i,)) for i in range(256)]

_BIN = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "add": "+", "sub": "-"}


class ExprCompiler:
    """Typed expression tree -> Python source over locals ``x<slot>``."""

    def __init__(self, layout: Layout):
        self.layout = layout

    def expr(self, e: Expr, env: dict[Param, int], names: dict[int, str] | None = None) -> str:
        names = names or {}
        return self._e(e, env, names)

    def member(self, e: Expr, env: dict[Param, int]) -> int:
        if isinstance(e, Param):
            return env[e]
        if isinstance(e, MemberConst):
            return e.member
        raise ModelError("an index must be a parameter or a fixed member")

    def slot_of(self, v: Var, env: dict[Param, int]) -> int:
        m = None if v.index is None else self.member(v.index, env)
        return self.layout.slot(v.decl, m)

    def _e(self, e: Expr, env: dict[Param, int], names: dict[int, str]) -> str:
        if isinstance(e, Const):
            return str(int(e.value))  # type: ignore[arg-type]
        if isinstance(e, Var):
            s = self.slot_of(e, env)
            code = names.get(s, f"x{s}")
            off = offset(e.decl.type)
            return f"({code} + {off})" if off > 0 else f"({code} - {-off})" if off < 0 else code
        if isinstance(e, (Param, MemberConst)):
            return str(self.member(e, env))
        if isinstance(e, Quant):
            parts = [self._e(e.body, {**env, e.param: m}, names) for m in e.param.index.members()]
            if e.kind == "forall":
                return "(" + " and ".join(parts) + ")" if parts else "True"
            if e.kind == "exists":
                return "(" + " or ".join(parts) + ")" if parts else "False"
            return "(" + " + ".join(f"({p})" for p in parts) + ")" if parts else "0"
        if isinstance(e, Op):
            a = e.args
            if e.op == "member2ref":
                ref = e.type
                assert isinstance(ref, RefType)
                return str(len(ref.specials) + self.member(a[0], env))
            if e.op == "enum_cast":
                table = cast_table(a[0].type, e.type)  # type: ignore[arg-type]
                return f"{table}[{self._e(a[0], env, names)}]"
            if e.op in ("and", "or"):
                flat = _flatten(e, e.op)
                return "(" + f" {e.op} ".join(self._e(x, env, names) for x in flat) + ")"
            if e.op == "not":
                return f"(not {self._e(a[0], env, names)})"
            if e.op == "implies":
                return f"((not {self._e(a[0], env, names)}) or {self._e(a[1], env, names)})"
            if e.op == "ite":
                c, x, y = (self._e(z, env, names) for z in a)
                return f"({x} if {c} else {y})"
            if e.op in _BIN:
                return f"({self._e(a[0], env, names)} {_BIN[e.op]} {self._e(a[1], env, names)})"
        raise ModelError(f"cannot compile {e!r}")


def _flatten(e: Expr, op: str) -> list[Expr]:
    if isinstance(e, Op) and e.op == op:
        return [x for a in e.args for x in _flatten(a, op)]
    return [e]


@dataclass
class InstanceCode:
    """Source fragments of one action instance."""

    guard: str
    body: list[str]  # statements computing the new slot values into t<slot> locals
    changed: list[int]  # slots assigned (in first-assignment order)
    result: str  # expression of the successor state, over ``s`` and the new values


class Compiled:
    """A model compiled for explicit-state execution.

    ``instances[k]`` is action instance k; ``code[k]`` its source fragments.
    The helper functions (``successors``, ``step``, ``enabled``) are what trace
    replay and simulation use; the search engine generates its own loop from
    the same fragments.
    """

    def __init__(self, model: Model):
        self.model = model
        self.layout = Layout.of(model)
        self.actions = resolve_actions(model)
        self.ec = ExprCompiler(self.layout)
        self.instances: list[Instance] = []
        for act in self.actions:
            ranges = [p.index.members() for p in act.params]
            for binding in itertools.product(*ranges):
                self.instances.append(Instance(act, tuple(binding)))
        self.code = [self._instance_code(inst) for inst in self.instances]
        self.initial = self.layout.initial()
        self._fns: dict[str, Callable] = {}
        self.unpack = "(" + ", ".join(f"x{i}" for i in range(self.layout.size)) + ",) = s"

    # ---- fragments ----------------------------------------------------
    def env_of(self, inst: Instance) -> dict[Param, int]:
        return dict(zip(inst.action.params, inst.binding))

    def _instance_code(self, inst: Instance) -> InstanceCode:
        env = self.env_of(inst)
        guard = self.ec.expr(inst.action.guard, env)
        names: dict[int, str] = {}
        body: list[str] = []
        changed: list[int] = []
        for eff in inst.action.effects:
            seq = (
                [(a, {**env, eff.param: m}) for m in eff.param.index.members() for a in eff.body]
                if isinstance(eff, ForEach)
                else [(eff, env)]
            )
            for a, aenv in seq:
                self._assign(a, aenv, names, body, changed, inst)
        return InstanceCode(guard, body, changed, self._successor(names))

    def _successor(self, names: dict[int, str]) -> str:
        """The successor as slices of ``s`` joined with the changed bytes.

        Slicing and concatenating bytes is about 3x faster than building a
        tuple of every slot, and most actions change one or two slots.
        """
        pieces: list[str] = []
        run_start = 0
        size = self.layout.size
        for slot in range(size):
            if slot not in names:
                continue
            if run_start < slot:
                pieces.append(f"s[{run_start}:{slot}]")
            v = names[slot]
            pieces.append(repr(bytes((int(v),))) if v.isdigit() else f"SB[{v}]")
            run_start = slot + 1
        if run_start < size:
            pieces.append(f"s[{run_start}:]")
        return " + ".join(pieces) if pieces else "s"

    def _assign(self, a: Assign, env, names, body, changed, inst: Instance) -> None:
        slot = self.ec.slot_of(a.target, env)
        src = self.ec.expr(a.value, env, names)
        a_type = a.target.decl.type
        off = offset(a_type)
        if src.lstrip("-").isdigit():  # a constant: later reads and the successor use the literal code
            code = int(src) - off
            if not 0 <= code < a_type.domain_size():
                raise DomainError(f"{inst.label} sets {self.layout.slot_names[slot]} to {src}, outside its domain")
            names[slot] = str(code)
            if slot not in changed:
                changed.append(slot)
            return
        tmp = f"t{slot}_{len(body)}"
        body.append(f"{tmp} = {src}")
        t = a.target.decl.type
        lo, hi = (0, t.domain_size() - 1) if not isinstance(t, (RangeType, BoolType)) else int_range(t)
        vlo, vhi = _value_range(a.value)
        if vlo < lo or vhi > hi:
            body.append(
                f"if not {lo} <= {tmp} <= {hi}: raise DomainError("
                f"'{inst.label} sets {self.layout.slot_names[slot]} to %d, outside {lo}..{hi}' % {tmp})"
            )
        if off:  # stored as value - lo
            body.append(f"{tmp} = {tmp} - ({off})")
        names[slot] = tmp
        if slot not in changed:
            changed.append(slot)

    def condition(self, e: Expr, where: str) -> str:
        """Compile a state predicate (type-checked here) to source over ``x<slot>`` locals."""
        return self.ec.expr(resolve_condition(self.model, e, where), {})

    # ---- helpers built from the fragments -------------------------------
    def function(self, name: str, src: str) -> Callable:
        """Compile generated source defining ``name``; cached."""
        if name not in self._fns:
            ns: dict = {"DomainError": DomainError, "SB": _SINGLE_BYTES}
            exec(compile(src, f"<{self.model.name}:{name}>", "exec"), ns)
            self._fns[name] = ns[name]
        return self._fns[name]

    def instance_source(self, k: int, indent: str, emit: str) -> list[str]:
        """Lines testing instance k's guard and, if enabled, computing ``n`` and running ``emit``."""
        c = self.code[k]
        lines = [f"{indent}if {c.guard}:"]
        lines += [f"{indent}    {stmt}" for stmt in c.body]
        lines.append(f"{indent}    n = {c.result}")
        lines += [f"{indent}    {e}" for e in emit.splitlines()]
        return lines

    def successors(self, s: bytes) -> list[tuple[int, bytes]]:
        """Every enabled instance of ``s`` with its successor state."""
        if "successors" not in self._fns:
            lines = ["def successors(s):", f"    {self.unpack}", "    out = []"]
            for k in range(len(self.instances)):
                lines += self.instance_source(k, "    ", f"out.append(({k}, n))")
            lines.append("    return out")
            self.function("successors", "\n".join(lines))
        return self._fns["successors"](s)

    def step(self, s: bytes, k: int) -> bytes | None:
        """The successor of ``s`` by instance k, or None if k is disabled in ``s``."""
        for kk, n in self.successors(s):
            if kk == k:
                return n
        return None

    def predicate(self, name: str, src: str) -> Callable[[bytes], bool]:
        """A compiled state predicate from condition source."""
        return self.function(name, f"def {name}(s):\n    {self.unpack}\n    return bool({src})")

    def instances_of(self, actions: object) -> set[int]:
        """The instances of the actions named (fairness sets, a lasso's allowed loop steps)."""
        names = set(actions)  # type: ignore[call-overload]
        return {k for k, inst in enumerate(self.instances) if inst.action.name in names}

    def instance_index(self, action: str, binding: tuple[int, ...]) -> int:
        for k, inst in enumerate(self.instances):
            if inst.action.name == action and inst.binding == binding:
                return k
        raise ModelError(f"model {self.model.name} has no action instance {action}{tuple(b + 1 for b in binding)}")


def _value_range(e: Expr) -> tuple[int, int]:
    t = e.type
    if isinstance(e, Op) and e.op == "enum_cast":
        table = cast_table(e.args[0].type, t)  # type: ignore[arg-type]
        return min(table), max(table)
    if isinstance(e, Op) and e.op == "ite":  # a branch may be a cast with no value for some label
        (alo, ahi), (blo, bhi) = _value_range(e.args[1]), _value_range(e.args[2])
        return min(alo, blo), max(ahi, bhi)
    if isinstance(t, (RangeType, BoolType)):
        return int_range(t)
    return 0, t.domain_size() - 1  # type: ignore[union-attr]
