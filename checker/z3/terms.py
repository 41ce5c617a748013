"""Typed model expressions and effects as z3 terms.

One translator serves every z3 back end. It walks the typed trees that
``model.typecheck`` produces (the same trees ``model.pycompile`` turns into
Python), so the z3 meaning of a guard, an effect or a property is derived from
the model and never written by hand.

Every value is a z3 integer: booleans are 0/1, enumerations and references
their type's code (``RefType``: specials 0..k-1, member m is k+m), exactly the
codes of the explicit engine's byte states, so a z3 model decodes with the
model's own ``Layout``. Conditions are z3 booleans; ``cond`` and ``num``
convert between the two where the language mixes them (a 0/1 variable used as
a condition, a comparison added to a number).

How a state is read and how quantifiers over an index set are expanded are
left to subclasses: ``checker.z3.encode`` unrolls them over the N members of a
fixed instance, ``checker.z3.param`` keeps N symbolic (arrays and quantifiers).
"""

from __future__ import annotations

from typing import Any

import z3
from dmabuf_check.model.expr import Const, Expr, MemberConst, Op, Param, Quant, Var
from dmabuf_check.model.lang import Action, Assign, ForEach, Variable
from dmabuf_check.model.typecheck import cast_table, int_range
from dmabuf_check.model.types import BoolType, EnumType, ModelError, RangeType, RefType, Type


class FragmentError(Exception):
    """A construct the chosen encoding cannot express exactly (the message says which and why)."""


def domain(t: Type, members: int) -> tuple[int, int]:
    """The code interval of a variable type, for ``members`` members of its index set."""
    if isinstance(t, (RangeType, BoolType)):
        return int_range(t)
    if isinstance(t, RefType):
        return 0, len(t.specials) + members - 1
    return 0, t.domain_size() - 1


def static_range(e: Expr) -> tuple[int, int]:
    """The interval a typed value expression can take when every variable it reads is in its domain."""
    if isinstance(e, Op) and e.op == "enum_cast":
        table = cast_table(e.args[0].type, e.type)  # type: ignore[arg-type]
        return min(table), max(table)
    if isinstance(e, Op) and e.op == "ite":  # a branch may be a cast with no value for some label
        (alo, ahi), (blo, bhi) = static_range(e.args[1]), static_range(e.args[2])
        return min(alo, blo), max(ahi, bhi)
    if isinstance(e, Op) and e.op == "member2ref":
        ref = e.type
        assert isinstance(ref, RefType)
        return len(ref.specials), len(ref.specials) + ref.index.size - 1
    t = e.type
    if isinstance(t, (RangeType, BoolType)):
        return int_range(t)
    return 0, t.domain_size() - 1  # type: ignore[union-attr]


def reads_vars(e: Expr) -> set[Variable]:
    """Every variable declaration ``e`` reads."""
    if isinstance(e, Var):
        return {e.decl} | (reads_vars(e.index) if e.index is not None else set())
    if isinstance(e, Op):
        return set().union(*(reads_vars(a) for a in e.args))
    if isinstance(e, Quant):
        return reads_vars(e.body)
    return set()


_BOOL_OPS = {"eq", "ne", "lt", "le", "and", "or", "not", "implies"}


def as_bool(x: z3.ArithRef) -> z3.BoolRef | None:
    """``c`` if ``x`` is ``If(c, 1, 0)`` (how a boolean slot is read), else None."""
    if z3.is_app_of(x, z3.Z3_OP_ITE):
        c, a, b = x.children()
        if z3.is_int_value(a) and z3.is_int_value(b) and a.as_long() == 1 and b.as_long() == 0:
            return c  # type: ignore[return-value]
    return None


def eq(x: z3.ArithRef, y: z3.ArithRef) -> z3.BoolRef:
    """``x == y``, written as the boolean itself when one side is a 0/1 boolean read.

    Keeps formulas over boolean slots propositional (Spacer generalises
    propositional lemmas far better than 0/1 integer ones).
    """
    for a, b in ((x, y), (y, x)):
        c = as_bool(a)
        if c is not None and z3.is_int_value(b):
            v = b.as_long()
            return c if v == 1 else z3.Not(c) if v == 0 else z3.BoolVal(False)
    return x == y


class Terms:
    """Typed expression trees to z3 terms over a *view* of one state.

    A view is whatever the subclass reads variables from; effects produce new
    views. ``env`` binds parameters (action parameters, quantified variables)
    to members in the subclass's own representation.
    """

    # ---- hooks ----------------------------------------------------------
    def member(self, e: Expr, env: dict[Param, Any]) -> Any:
        raise NotImplementedError

    def member_num(self, m: Any) -> z3.ArithRef:
        raise NotImplementedError

    def read(self, view: Any, decl: Variable, member: Any) -> z3.ArithRef:
        raise NotImplementedError

    def write(self, view: Any, decl: Variable, member: Any, value: z3.ArithRef) -> Any:
        raise NotImplementedError

    def quantifier(self, q: Quant, view: Any, env: dict[Param, Any]) -> z3.ExprRef:
        raise NotImplementedError

    def for_each(self, eff: ForEach, view: Any, env: dict[Param, Any], checks: list[z3.BoolRef] | None) -> Any:
        raise NotImplementedError

    # ---- expressions ----------------------------------------------------
    def cond(self, e: Expr, view: Any, env: dict[Param, Any]) -> z3.BoolRef:
        """``e`` as a z3 boolean (a 0/1 value counts as true when non-zero, as in Python)."""
        if isinstance(e, Op) and e.op in _BOOL_OPS:
            a = e.args
            if e.op == "and":
                return z3.And(*(self.cond(x, view, env) for x in a))
            if e.op == "or":
                return z3.Or(*(self.cond(x, view, env) for x in a))
            if e.op == "not":
                return z3.Not(self.cond(a[0], view, env))
            if e.op == "implies":
                return z3.Implies(self.cond(a[0], view, env), self.cond(a[1], view, env))
            x, y = self.num(a[0], view, env), self.num(a[1], view, env)
            if e.op in ("eq", "ne"):
                return eq(x, y) if e.op == "eq" else z3.Not(eq(x, y))
            return x < y if e.op == "lt" else x <= y
        if isinstance(e, Quant) and e.kind in ("forall", "exists"):
            return self.quantifier(e, view, env)  # type: ignore[return-value]
        if isinstance(e, Const):
            return z3.BoolVal(bool(e.value))
        return z3.Not(eq(self.num(e, view, env), z3.IntVal(0)))

    def num(self, e: Expr, view: Any, env: dict[Param, Any]) -> z3.ArithRef:
        """``e`` as a z3 integer (conditions become 0/1)."""
        if isinstance(e, Const):
            return z3.IntVal(int(e.value))  # type: ignore[arg-type]
        if isinstance(e, Var):
            m = None if e.index is None else self.member(e.index, env)
            return self.read(view, e.decl, m)
        if isinstance(e, (Param, MemberConst)):
            return self.member_num(self.member(e, env))
        if isinstance(e, Quant):
            if e.kind in ("forall", "exists"):
                return z3.If(self.quantifier(e, view, env), 1, 0)
            return self.quantifier(e, view, env)  # type: ignore[return-value]
        if isinstance(e, Op):
            a = e.args
            if e.op in _BOOL_OPS:
                return z3.If(self.cond(e, view, env), 1, 0)
            if e.op == "add":
                return self.num(a[0], view, env) + self.num(a[1], view, env)
            if e.op == "sub":
                return self.num(a[0], view, env) - self.num(a[1], view, env)
            if e.op == "ite":
                return z3.If(self.cond(a[0], view, env), self.num(a[1], view, env), self.num(a[2], view, env))
            if e.op == "member2ref":
                ref = e.type
                assert isinstance(ref, RefType)
                return len(ref.specials) + self.member_num(self.member(a[0], env))
            if e.op == "enum_cast":
                src, dst = a[0].type, e.type
                assert isinstance(src, EnumType) and isinstance(dst, EnumType)
                x = self.num(a[0], view, env)
                table = cast_table(src, dst)
                out: z3.ArithRef = z3.IntVal(table[-1])
                for code in range(len(table) - 2, -1, -1):
                    out = z3.If(x == code, table[code], out)
                return out
        raise ModelError(f"the z3 back end cannot translate {e!r}")

    # ---- effects ----------------------------------------------------------
    def assign(self, a: Assign, view: Any, env: dict[Param, Any], checks: list[z3.BoolRef] | None) -> Any:
        """One assignment; a value that might leave the target's domain adds a range check to ``checks``."""
        value = self.num(a.value, view, env)
        decl = a.target.decl
        member = None if a.target.index is None else self.member(a.target.index, env)
        if checks is not None:
            lo, hi = self.bounds(decl)
            vlo, vhi = static_range(a.value)
            if vlo < lo or vhi > hi:
                checks.append(z3.And(lo <= value, value <= hi))
        return self.write(view, decl, member, value)

    def bounds(self, decl: Variable) -> tuple[Any, Any]:
        """The domain of ``decl`` (z3 terms where it depends on a symbolic N)."""
        raise NotImplementedError

    def effects(self, act: Action, view: Any, env: dict[Param, Any], checks: list[z3.BoolRef] | None = None) -> Any:
        """The view after ``act``'s effects, applied in order (later ones read earlier ones)."""
        for eff in act.effects:
            if isinstance(eff, ForEach):
                view = self.for_each(eff, view, env, checks)
            else:
                view = self.assign(eff, view, env, checks)
        return view
