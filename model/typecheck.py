"""Type checking: turn a user-written expression tree into a typed one.

Every node of the result has ``type`` set; literals are encoded against the
type they meet (``storage == "SYS"`` becomes ``storage == Const(1, storage's
enum)``), and a member compared with a reference-typed variable is wrapped in
``member2ref``. Every back end reads only typed trees, so none of them has to
repeat these rules.
"""

from __future__ import annotations

from dataclasses import replace

from dmabuf_check.model.expr import Const, Expr, MemberConst, Op, Param, Quant, Var
from dmabuf_check.model.lang import Action, Assign, ForEach, Model
from dmabuf_check.model.types import (
    BOOL,
    BoolType,
    EnumType,
    MemberType,
    ModelError,
    RangeType,
    RefType,
    Type,
)

_CMP = {"eq", "ne"}
_ORD = {"lt", "le"}
_BOOL_OPS = {"and", "or", "implies"}
_ARITH = {"add", "sub"}


def _is_untyped_literal(e: Expr) -> bool:
    return isinstance(e, Const) and e.type is None


def int_range(t: Type) -> tuple[int, int]:
    """The integer interval a numeric type occupies (bools count as 0..1)."""
    if isinstance(t, RangeType):
        return t.lo, t.hi
    if isinstance(t, BoolType):
        return 0, 1
    raise ModelError(f"{t} is not a number")


def _literal_for(e: Const, t: Type, where: str) -> Const:
    try:
        return Const(t.encode(e.value), t)
    except ModelError as err:
        raise ModelError(f"{where}: {err}") from None


def _own_literal(e: Const, where: str) -> Const:
    v = e.value
    if isinstance(v, bool):
        return Const(int(v), BOOL)
    if isinstance(v, int):
        return Const(v, RangeType(v, v))
    raise ModelError(f"{where}: label {v!r} needs a variable of enumeration type to compare with")


class Checker:
    """Resolves expressions of one model; ``where`` names the action or property for messages."""

    def __init__(self, model: Model):
        self.model = model

    def expr(self, e: Expr, bound: frozenset, where: str, expect: Type | None = None) -> Expr:
        """Resolve ``e``; ``expect`` types literals that nothing else types (``ite(c, "SYS", "VRAM")``)."""
        if isinstance(e, Const):
            if e.type is not None:
                return e
            return self._fit(e, expect, where) if expect is not None else _own_literal(e, where)
        if isinstance(e, Param):
            if e not in bound:
                raise ModelError(f"{where}: parameter {e.name} is not bound here")
            return e
        if isinstance(e, MemberConst):
            return e
        if isinstance(e, Var):
            d = e.decl
            if d not in self.model.variables:
                raise ModelError(f"{where}: variable {d.name} is not declared in model {self.model.name}")
            if (d.index is None) != (e.index is None):
                raise ModelError(f"{where}: {d.name} is {'global' if d.index is None else 'per-member'}")
            idx = None
            if e.index is not None:
                idx = self.expr(e.index, bound, where)
                if not (isinstance(idx, (Param, MemberConst))) or idx.index.name != d.index.name:
                    raise ModelError(f"{where}: {d.name}[...] must be indexed by an {d.index.member_label} parameter")
            return Var(d, idx, d.type)
        if isinstance(e, Quant):
            if e.kind not in ("forall", "exists", "count", "sum"):
                raise ModelError(f"{where}: unknown quantifier {e.kind}")
            body = self.expr(e.body, bound | {e.param}, where)
            p = e.param
            n = e.param.index.size
            if e.kind in ("forall", "exists"):
                self._want_bool(body, where)
                return Quant(e.kind, p, body, BOOL)
            if e.kind == "count":
                self._want_bool(body, where)
                return Quant(e.kind, p, body, RangeType(0, n))
            lo, hi = int_range(body.type)
            return Quant(e.kind, p, body, RangeType(min(0, lo * n), max(0, hi * n)))
        if isinstance(e, Op):
            return self._op(e, bound, where, expect)
        raise ModelError(f"{where}: {e!r} is not an expression")

    def _want_bool(self, e: Expr, where: str) -> None:
        if not isinstance(e.type, BoolType):
            raise ModelError(f"{where}: expected a condition, got a value of type {e.type}")

    def _pair(self, a: Expr, b: Expr, bound: frozenset, where: str) -> tuple[Expr, Expr]:
        """Resolve two operands that must share a type; literals take the other's type."""
        if _is_untyped_literal(a) and _is_untyped_literal(b):
            return _own_literal(a, where), _own_literal(b, where)
        if _is_untyped_literal(a):
            tb = self.expr(b, bound, where)
            return self._fit(a, tb.type, where), tb
        ta = self.expr(a, bound, where)
        if _is_untyped_literal(b):
            return ta, self._fit(b, ta.type, where)
        tb = self.expr(b, bound, where)
        return self._unify(ta, tb, where)

    def _fit(self, lit: Const, t: Type, where: str) -> Const:
        if isinstance(t, RangeType) and isinstance(lit.value, int) and not isinstance(lit.value, bool):
            return Const(lit.value, RangeType(lit.value, lit.value))  # compare freely with any int
        return _literal_for(lit, t, where)

    def _unify(self, a: Expr, b: Expr, where: str) -> tuple[Expr, Expr]:
        ta, tb = a.type, b.type
        if isinstance(ta, MemberType) and isinstance(tb, RefType):
            return Op("member2ref", (a,), tb), b
        if isinstance(ta, RefType) and isinstance(tb, MemberType):
            return a, Op("member2ref", (b,), ta)
        numeric = (RangeType, BoolType)
        if isinstance(ta, numeric) and isinstance(tb, numeric):
            return a, b
        if ta == tb:
            return a, b
        if isinstance(ta, EnumType) and isinstance(tb, EnumType) and set(ta.labels) & set(tb.labels):
            return enum_cast(a, tb), b  # compare by label: loc[i] == storage
        raise ModelError(f"{where}: cannot compare {ta} with {tb}")

    def _op(self, e: Op, bound: frozenset, where: str, expect: Type | None = None) -> Expr:
        op, args = e.op, e.args
        if op in _CMP:
            a, b = self._pair(args[0], args[1], bound, where)
            return Op(op, (a, b), BOOL)
        if op in _ORD:
            a, b = self._pair(args[0], args[1], bound, where)
            int_range(a.type)
            int_range(b.type)
            return Op(op, (a, b), BOOL)
        if op in _BOOL_OPS or op == "not":
            rs = tuple(self.expr(x, bound, where) for x in args)
            for r in rs:
                self._want_bool(r, where)
            return Op(op, rs, BOOL)
        if op in _ARITH:
            a = self.expr(args[0], bound, where)
            b = self.expr(args[1], bound, where)
            (alo, ahi), (blo, bhi) = int_range(a.type), int_range(b.type)
            t = RangeType(alo + blo, ahi + bhi) if op == "add" else RangeType(alo - bhi, ahi - blo)
            return Op(op, (a, b), t)
        if op == "ite":
            c = self.expr(args[0], bound, where)
            self._want_bool(c, where)
            if expect is not None and _is_untyped_literal(args[1]) and _is_untyped_literal(args[2]):
                x, y = self.expr(args[1], bound, where, expect), self.expr(args[2], bound, where, expect)
            elif expect is not None and _is_untyped_literal(args[1]) and not isinstance(args[2], Const):
                y = self.expr(args[2], bound, where, expect)
                x = self._fit(args[1], y.type, where)  # type: ignore[arg-type]
            elif expect is not None and _is_untyped_literal(args[2]) and not isinstance(args[1], Const):
                x = self.expr(args[1], bound, where, expect)
                y = self._fit(args[2], x.type, where)  # type: ignore[arg-type]
            else:
                x, y = self._pair(args[1], args[2], bound, where)
            return Op(op, (c, x, y), _join(x.type, y.type))
        if op in ("member2ref", "enum_cast"):
            return e
        raise ModelError(f"{where}: unknown operator {op}")

    def assignment(self, a: Assign, bound: frozenset, where: str) -> Assign:
        tgt = self.expr(a.target, bound, where)
        t = tgt.type
        v = a.value
        if _is_untyped_literal(v):
            val = self._fit(v, t, where)  # type: ignore[arg-type]
            if isinstance(t, RangeType):
                t.encode(v.value)  # out-of-domain literal is a model error now, not at run time
        else:
            val = self.expr(v, bound, where, expect=t)
            if isinstance(t, RefType) and isinstance(val.type, MemberType):
                val = Op("member2ref", (val,), t)
            elif isinstance(t, (RangeType, BoolType)):
                int_range(val.type)
            elif isinstance(t, EnumType) and isinstance(val.type, EnumType) and val.type != t:
                if not set(val.type.labels) & set(t.labels):
                    raise ModelError(f"{where}: {val.type} and {t} share no label")
                val = enum_cast(val, t)
            elif val.type != t:
                raise ModelError(f"{where}: cannot assign a {val.type} to {tgt.decl.name} of type {t}")
        return Assign(tgt, val)  # type: ignore[arg-type]

    def action(self, act: Action) -> Action:
        where = f"action {act.name}"
        bound = frozenset(act.params)
        guard = self.expr(act.guard, bound, where)
        self._want_bool(guard, where)
        effects: list = []
        for eff in act.effects:
            if isinstance(eff, ForEach):
                inner = bound | {eff.param}
                effects.append(ForEach(eff.param, tuple(self.assignment(x, inner, where) for x in eff.body)))
            else:
                effects.append(self.assignment(eff, bound, where))
        return replace(act, guard=guard, effects=tuple(effects))


def enum_cast(e: Expr, target: EnumType) -> Expr:
    """Reinterpret an enumeration value by label; a label ``target`` lacks maps to no value."""
    return Op("enum_cast", (e,), target)


def cast_table(source: EnumType, target: EnumType) -> tuple[int, ...]:
    """For each source code, the target code with the same label, or -1."""
    return tuple(target.labels.index(x) if x in target.labels else -1 for x in source.labels)


def _join(a: Type, b: Type) -> Type:
    if isinstance(a, (RangeType, BoolType)) and isinstance(b, (RangeType, BoolType)):
        if isinstance(a, BoolType) and isinstance(b, BoolType):
            return BOOL
        (alo, ahi), (blo, bhi) = int_range(a), int_range(b)
        return RangeType(min(alo, blo), max(ahi, bhi))
    if a == b:
        return a
    if isinstance(a, (EnumType, RefType)):
        return a
    raise ModelError(f"branches of an ite have different types {a} and {b}")


def resolve(model: Model, e: Expr, where: str, bound: frozenset = frozenset()) -> Expr:
    """Type-check one expression of ``model`` (a guard, a property, a wait condition)."""
    return Checker(model).expr(e, bound, where)


def resolve_condition(model: Model, e: Expr, where: str, bound: frozenset = frozenset()) -> Expr:
    r = resolve(model, e, where, bound)
    if not isinstance(r.type, BoolType):
        raise ModelError(f"{where}: expected a condition, got a value of type {r.type}")
    return r


def resolve_actions(model: Model) -> list[Action]:
    """Type-check every action of ``model``; raises ModelError naming the action."""
    c = Checker(model)
    return [c.action(a) for a in model.actions]
