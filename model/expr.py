"""Expression trees of the modeling language.

Expressions are plain data (frozen dataclasses), built with Python operators
so a model file reads like the spec: ``(att[i] == 1) & (map[i] == 0)``.
Nothing here evaluates anything: the explicit engine compiles the trees to
Python source, the z3 engine to z3 terms, both from the typed tree that
``model.typecheck.resolve`` produces.

Because ``==`` builds a tree, expressions are not hashable by value and must
never be used in a boolean context (``if expr:``); that raises at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmabuf_check.model.types import IndexSet, MemberType, ModelError, Type

Literal = int | bool | str


class Expr:
    """Base of expression nodes; carries the operator overloads."""

    __slots__ = ()
    type: Type | None

    # comparisons
    def __eq__(self, other: object) -> Expr:  # type: ignore[override]
        return Op("eq", (self, lift(other)))

    def __ne__(self, other: object) -> Expr:  # type: ignore[override]
        return Op("ne", (self, lift(other)))

    def __lt__(self, other: object) -> Expr:
        return Op("lt", (self, lift(other)))

    def __le__(self, other: object) -> Expr:
        return Op("le", (self, lift(other)))

    def __gt__(self, other: object) -> Expr:
        return Op("lt", (lift(other), self))

    def __ge__(self, other: object) -> Expr:
        return Op("le", (lift(other), self))

    # boolean connectives
    def __and__(self, other: object) -> Expr:
        return Op("and", (self, lift(other)))

    def __rand__(self, other: object) -> Expr:
        return Op("and", (lift(other), self))

    def __or__(self, other: object) -> Expr:
        return Op("or", (self, lift(other)))

    def __ror__(self, other: object) -> Expr:
        return Op("or", (lift(other), self))

    def __invert__(self) -> Expr:
        return Op("not", (self,))

    def implies(self, other: object) -> Expr:
        return Op("implies", (self, lift(other)))

    # arithmetic
    def __add__(self, other: object) -> Expr:
        return Op("add", (self, lift(other)))

    def __radd__(self, other: object) -> Expr:
        return Op("add", (lift(other), self))

    def __sub__(self, other: object) -> Expr:
        return Op("sub", (self, lift(other)))

    def __rsub__(self, other: object) -> Expr:
        return Op("sub", (lift(other), self))

    def __bool__(self) -> bool:
        raise TypeError("a model expression has no truth value here; use & | ~ instead of and/or/not")

    __hash__ = object.__hash__


@dataclass(frozen=True, eq=False, slots=True)
class Const(Expr):
    """A literal: an int, a bool, or an enumeration/special label."""

    value: Literal
    type: Type | None = None


@dataclass(frozen=True, eq=False, slots=True)
class Param(Expr):
    """An action parameter or a quantified variable ranging over an index set."""

    name: str
    index: IndexSet
    type: Type | None = None

    def __post_init__(self) -> None:
        # a parameter's type is fixed by its index set; keeping the same object
        # through type checking keeps parameter identity (binding is by identity)
        object.__setattr__(self, "type", MemberType(self.index))


@dataclass(frozen=True, eq=False, slots=True)
class Var(Expr):
    """A state variable; ``index`` is set for per-member variables (``ref[i]``)."""

    decl: Variable
    index: Expr | None = None
    type: Type | None = None


@dataclass(frozen=True, eq=False, slots=True)
class Op(Expr):
    """An operator application: eq ne lt le and or not implies add sub ite member2ref."""

    op: str
    args: tuple[Expr, ...]
    type: Type | None = None


@dataclass(frozen=True, eq=False, slots=True)
class Quant(Expr):
    """forall / exists / count / sum of ``body`` over every member bound to ``param``."""

    kind: str
    param: Param
    body: Expr
    type: Type | None = None


@dataclass(frozen=True, eq=False, slots=True)
class MemberConst(Expr):
    """A fixed member of an index set, produced when an action instance is bound."""

    index: IndexSet
    member: int
    type: Type | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", MemberType(self.index))


def lift(x: object) -> Expr:
    if isinstance(x, Expr):
        return x
    if isinstance(x, (bool, int, str)):
        return Const(x)
    raise TypeError(f"cannot use {x!r} in a model expression")


def ite(cond: object, then: object, other: object) -> Expr:
    """If-then-else expression."""
    return Op("ite", (lift(cond), lift(then), lift(other)))


def _quant(kind: str, index: IndexSet, body_fn, name: str | None) -> Expr:
    p = Param(name or f"_{kind}{id(body_fn) % 9973}", index)
    return Quant(kind, p, lift(body_fn(p)))


def forall(index: IndexSet, body, name: str = "j") -> Expr:
    """forall j in index: body(j)."""
    return _quant("forall", index, body, name)


def exists(index: IndexSet, body, name: str = "j") -> Expr:
    """exists j in index: body(j)."""
    return _quant("exists", index, body, name)


def count(index: IndexSet, body, name: str = "j") -> Expr:
    """#{j in index : body(j)}."""
    return _quant("count", index, body, name)


def sum_of(index: IndexSet, body, name: str = "j") -> Expr:
    """Sum over j in index of the integer body(j)."""
    return _quant("sum", index, body, name)


def conj(*parts: object) -> Expr:
    """Conjunction of any number of expressions (true when empty)."""
    es = [lift(p) for p in parts]
    if not es:
        return Const(True)
    out = es[0]
    for e in es[1:]:
        out = Op("and", (out, e))
    return out


def conjuncts(e: Expr) -> list[Expr]:
    """Flatten a tree of ``and`` into its conjuncts."""
    if isinstance(e, Op) and e.op == "and":
        return [c for a in e.args for c in conjuncts(a)]
    return [e]


def subst(e: Expr, env: dict[Param, Expr]) -> Expr:
    """Replace parameters (by identity) with expressions, e.g. bind ``i`` to a member."""
    if isinstance(e, Param):
        return env.get(e, e)
    if isinstance(e, Var):
        return e if e.index is None else Var(e.decl, subst(e.index, env), e.type)
    if isinstance(e, Op):
        return Op(e.op, tuple(subst(a, env) for a in e.args), e.type)
    if isinstance(e, Quant):
        inner = {k: v for k, v in env.items() if k is not e.param}
        return Quant(e.kind, e.param, subst(e.body, inner), e.type)
    return e


def disj(*parts: object) -> Expr:
    """Disjunction of any number of expressions (false when empty)."""
    es = [lift(p) for p in parts]
    if not es:
        return Const(False)
    out = es[0]
    for e in es[1:]:
        out = Op("or", (out, e))
    return out


def any_of(parts: list[Expr]) -> Expr:
    """``disj`` as a balanced tree: a disjunction of thousands of conditions (wait-for cycles, the calls
    of a program) stays shallow enough for the type checker and the code generators' recursion."""
    if len(parts) <= 8:
        return disj(*parts)
    mid = len(parts) // 2
    return Op("or", (any_of(parts[:mid]), any_of(parts[mid:])))


@dataclass(eq=False)
class Variable:
    """A state variable declaration (one slot, or one slot per index member)."""

    name: str
    type: Type
    init: object
    index: IndexSet | None = None
    kernel: str = ""
    meaning: str = ""
    rule: str = ""

    def __getitem__(self, i: object) -> Var:
        if self.index is None:
            raise ModelError(f"variable {self.name} is global and cannot be indexed")
        return Var(self, lift(i))

    def ref(self) -> Var:
        if self.index is not None:
            raise ModelError(f"variable {self.name} is per-{self.index.member_label}: index it")
        return Var(self)
