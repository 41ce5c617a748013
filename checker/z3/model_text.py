"""Model expressions and z3 formulas over model slots, printed in the model's own vocabulary.

Certificates and counterexamples to induction are read by people who know
the spec, so ``map[i] = 1 ⇒ att[i] = 1`` and ``owner = importer 2``, never z3's
integer codes.
"""

from __future__ import annotations

import z3
from dmabuf_check.model.expr import Const, Expr, MemberConst, Op, Param, Quant, Var
from dmabuf_check.model.lang import Variable
from dmabuf_check.model.types import BoolType, EnumType, RangeType, RefType, Type

_INFIX = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "and": "∧", "or": "∨", "implies": "⇒", "add": "+", "sub": "-"}
_PREC = {"implies": 1, "or": 2, "and": 3, "not": 4, "eq": 5, "ne": 5, "lt": 5, "le": 5, "add": 6, "sub": 6}


def label(t: Type | None, code: int) -> str:
    """A value code of type ``t`` as the spec writes it."""
    if isinstance(t, (EnumType, RefType)) and 0 <= code < t.domain_size():
        return t.show(code)
    return str(code)


def show_expr(e: Expr, outer: int = 0) -> str:
    """A model expression (typed or not) as text."""
    if isinstance(e, Const):
        if e.type is not None and not isinstance(e.type, (BoolType, RangeType)):
            return label(e.type, int(e.value))  # type: ignore[arg-type]
        return ("true" if e.value else "false") if isinstance(e.value, bool) else str(e.value)
    if isinstance(e, Var):
        return e.decl.name if e.index is None else f"{e.decl.name}[{show_expr(e.index)}]"
    if isinstance(e, Param):
        return e.name
    if isinstance(e, MemberConst):
        return str(e.member + 1)
    if isinstance(e, Quant):
        body = show_expr(e.body)
        p = e.param.name
        text = {"forall": f"∀{p}. {body}", "exists": f"∃{p}. {body}", "count": f"#{{{p} | {body}}}",
                "sum": f"Σ{p}. {body}"}[e.kind]
        return f"({text})" if outer and e.kind in ("forall", "exists") else text
    if isinstance(e, Op):
        if e.op in ("member2ref", "enum_cast"):
            return show_expr(e.args[0], outer)
        if e.op == "ite":
            return "ite(" + ", ".join(show_expr(a) for a in e.args) + ")"
        prec = _PREC[e.op]
        if e.op == "not":
            text = "¬" + show_expr(e.args[0], 9)
        else:
            text = f" {_INFIX[e.op]} ".join(show_expr(a, prec + (k > 0)) for k, a in enumerate(e.args))
        return f"({text})" if prec < outer or (outer and prec == outer and e.op == "implies") else text
    return repr(e)


def _negate(op: str) -> str:
    return {"==": "≠", "distinct": "=", "<=": ">", ">=": "<", "<": "≥", ">": "≤"}[op]


class SlotNamer:
    """Renders z3 formulas whose constants are named after layout slots (``storage``, ``map[2]``)."""

    def __init__(self, slots: dict[str, Variable]):
        self.slots = slots

    def _type(self, x: z3.ExprRef) -> Type | None:
        if z3.is_const(x) and not z3.is_int_value(x):
            v = self.slots.get(x.decl().name().rstrip("'"))
            return v.type if v is not None else None
        return None

    def show(self, f: z3.ExprRef, outer: int = 0) -> str:
        if z3.is_true(f):
            return "true"
        if z3.is_false(f):
            return "false"
        if z3.is_and(f) or z3.is_or(f):
            sym, prec = (" ∧ ", 3) if z3.is_and(f) else (" ∨ ", 2)
            text = sym.join(self.show(c, prec + 1) for c in f.children())
            return f"({text})" if prec < outer else text
        if z3.is_implies(f):
            a, b = f.children()
            text = f"{self.show(a, 2)} ⇒ {self.show(b, 2)}"
            return f"({text})" if outer else text
        if z3.is_not(f):
            inner = f.children()[0]
            cmp = self._comparison(inner, negate=True)
            return cmp if cmp is not None else "¬" + self.show(inner, 9)
        cmp = self._comparison(f)
        if cmp is not None:
            return cmp
        if z3.is_app_of(f, z3.Z3_OP_ITE):
            return "ite(" + ", ".join(self.show(c) for c in f.children()) + ")"
        if z3.is_add(f):
            return "(" + " + ".join(self.show(c, 6) for c in f.children()) + ")"
        if z3.is_mul(f):
            return "·".join(self.show(c, 7) for c in f.children())
        if z3.is_sub(f):
            return "(" + " - ".join(self.show(c, 6) for c in f.children()) + ")"
        if z3.is_const(f) and z3.is_bool(f):
            return f"{f.decl().name()} = 1"  # a boolean slot
        return str(f)

    def _comparison(self, f: z3.ExprRef, negate: bool = False) -> str | None:
        ops = {z3.Z3_OP_EQ: "==", z3.Z3_OP_DISTINCT: "distinct", z3.Z3_OP_LE: "<=", z3.Z3_OP_GE: ">=",
               z3.Z3_OP_LT: "<", z3.Z3_OP_GT: ">"}
        if z3.is_const(f) and z3.is_bool(f) and not z3.is_true(f) and not z3.is_false(f):
            return f"{f.decl().name()} = {0 if negate else 1}"
        if not z3.is_app(f) or f.decl().kind() not in ops or f.num_args() != 2:
            return None
        op = ops[f.decl().kind()]
        a, b = f.children()
        if z3.is_bool(a):
            if op not in ("==", "distinct"):
                return None
            same = (op == "==") != negate
            return f"({self.show(a, 5)} {'⇔' if same else '⇎'} {self.show(b, 5)})"
        t = self._type(a) or self._type(b)
        if self._type(a) is None and self._type(b) is not None:
            a, b = b, a
            op = {"<=": ">=", ">=": "<=", "<": ">", ">": "<"}.get(op, op)
        text_op = _negate(op) if negate else {"==": "=", "distinct": "≠", "<=": "≤", ">=": "≥"}.get(op, op)
        if isinstance(t, (EnumType, RefType)) and z3.is_int_value(b):
            code = b.as_long()
            sym = {"=": "=", "≠": "≠"}.get(text_op)
            if sym:
                return f"{self.show(a, 5)} {sym} {label(t, code)}"
            allowed = [c for c in range(t.domain_size()) if _holds(text_op, c, code)]
            if len(allowed) == 1:
                return f"{self.show(a, 5)} = {label(t, allowed[0])}"
            if len(allowed) == t.domain_size() - 1:
                missing = next(c for c in range(t.domain_size()) if c not in allowed)
                return f"{self.show(a, 5)} ≠ {label(t, missing)}"
            return f"{self.show(a, 5)} ∈ {{{', '.join(label(t, c) for c in allowed)}}}"
        return f"{self.show(a, 5)} {text_op} {self.show(b, 5)}"


def _holds(op: str, x: int, y: int) -> bool:
    return {"≤": x <= y, "≥": x >= y, "<": x < y, ">": x > y}[op]
