"""A model with a fixed number of members as a z3 transition system.

A state is one z3 constant per slot of the explicit engine's layout (``storage``,
``map[2]`` ...): a z3 boolean for a 0/1 variable, an integer otherwise (a range's value, an
enumeration's or reference's code; the byte state stores a range as value - lo), so
a z3 model of a state decodes to the explicit engine's byte state and a path of
instance indices replays through ``model.pycompile``.

- ``init(s)``: every slot equals its initial value;
- ``trans(s, t, sel)``: action instance number ``sel`` (the explicit engine's
  numbering) is enabled in ``s``, every value it assigns lies in its
  variable's domain, and ``t`` is its effect, the effects applied in order
  (later assignments read earlier ones, ForEach unrolled over the members)
  and every slot no effect writes unchanged;
- ``condition(expr, s)`` / ``prop(p, s)``: a state predicate of the model or of
  a property; the deadlock property is built from the guards: some instance is
  enabled, or the state is a valid end state;
- ``domain_ok(s)``: no enabled instance assigns a value outside a variable's
  domain (the explicit engine raises DomainError there; BMC reports it);
- ``type_invariant(s)``: every slot lies in its domain.

Why transitions are clipped to the domains: the explicit engine stops with
DomainError on an out-of-domain assignment, so every state it can reach is
reached through in-domain transitions only, exactly the states of this
relation. Invariants proved here hold in all of them, ``type_invariant`` is
inductive, and BMC checks ``domain_ok`` at every depth so a model with a
domain error is reported as the explicit engine reports it.

The transition relation is built once over template constants and copied to
each step with ``z3.substitute``.
"""

from __future__ import annotations

from typing import Any

import z3
from dmabuf_check.checker.z3.terms import Terms, domain, eq
from dmabuf_check.model.expr import Expr, Param, Quant
from dmabuf_check.model.lang import ForEach, Model, Variable
from dmabuf_check.model.pycompile import Compiled, offset
from dmabuf_check.model.typecheck import resolve_condition
from dmabuf_check.model.types import BoolType, ModelError
from dmabuf_check.properties.base import DEADLOCK, Property

State = list[z3.ExprRef]  # one constant per layout slot (Bool for 0/1 variables, Int otherwise)


class FixedTerms(Terms):
    """Members are Python ints; a view is a list of numeric slot terms; quantifiers unroll."""

    def __init__(self, compiled: Compiled):
        self.layout = compiled.layout

    def member(self, e: Expr, env: dict[Param, Any]) -> int:
        if isinstance(e, Param):
            return env[e]
        m = getattr(e, "member", None)
        if m is None:
            raise ModelError("an index must be a parameter or a fixed member")
        return m

    def member_num(self, m: Any) -> z3.ArithRef:
        return z3.IntVal(m)

    def read(self, view: State, decl: Variable, member: Any) -> z3.ArithRef:
        return view[self.layout.slot(decl, member)]

    def write(self, view: State, decl: Variable, member: Any, value: z3.ArithRef) -> State:
        out = list(view)
        out[self.layout.slot(decl, member)] = value
        return out

    def quantifier(self, q: Quant, view: State, env: dict[Param, Any]) -> z3.ExprRef:
        members = q.param.index.members()
        if q.kind == "forall":
            return z3.And(*[self.cond(q.body, view, {**env, q.param: m}) for m in members])
        if q.kind == "exists":
            return z3.Or(*[self.cond(q.body, view, {**env, q.param: m}) for m in members])
        if q.kind == "count":
            return z3.Sum(*[z3.If(self.cond(q.body, view, {**env, q.param: m}), 1, 0) for m in members])
        return z3.Sum(*[self.num(q.body, view, {**env, q.param: m}) for m in members])

    def for_each(self, eff: ForEach, view: State, env: dict[Param, Any], checks: list[z3.BoolRef] | None) -> State:
        for m in eff.param.index.members():
            for a in eff.body:
                view = self.assign(a, view, {**env, eff.param: m}, checks)
        return view

    def bounds(self, decl: Variable) -> tuple[int, int]:
        return domain(decl.type, self.layout.n_members)


class FixedSystem:
    """The z3 encoding of one model instance (fixed parameters, fixed N)."""

    def __init__(self, model: Model, compiled: Compiled | None = None):
        self.model = model
        self.compiled = compiled or Compiled(model)
        self.layout = self.compiled.layout
        self.instances = self.compiled.instances
        self.terms = FixedTerms(self.compiled)
        self.names = list(self.layout.slot_names)
        self.is_bool = [isinstance(v.type, BoolType) for v, _ in self.layout.slot_vars]
        self.cur = self.state("")
        self.nxt = self.state("'")
        self.sel = z3.Int("sel")
        self.guards: list[z3.BoolRef] = []
        self.posts: list[list[z3.ArithRef]] = []  # numeric value of every slot after the instance
        self.checks: list[list[z3.BoolRef]] = []
        view = self._views_cur = self.numeric(self.cur)  # thousands of candidates read cur and nxt: one view each
        self._views_nxt = self.numeric(self.nxt)
        for inst in self.instances:
            env = self.compiled.env_of(inst)
            self.guards.append(self.terms.cond(inst.action.guard, view, env))
            checks: list[z3.BoolRef] = []
            self.posts.append(self.terms.effects(inst.action, view, env, checks))
            self.checks.append(checks)
        self._trans = self._build_trans()
        self._cache: dict[tuple[int, str], z3.BoolRef] = {}

    # ---- states ------------------------------------------------------------
    def state(self, tag: str) -> State:
        """Fresh z3 constants for one state, named after the slots (``map[2]`` + tag)."""
        return [z3.Bool(f"{name}{tag}") if b else z3.Int(f"{name}{tag}")
                for name, b in zip(self.layout.slot_names, self.is_bool)]

    def numeric(self, s: State) -> list[z3.ArithRef]:
        """The slots as numbers (a boolean slot reads as If(b, 1, 0)), the view the translator reads."""
        return [z3.If(x, 1, 0) if b else x for x, b in zip(s, self.is_bool)]  # type: ignore[misc]

    def _slot_eq(self, slot: int, x: z3.ExprRef, value: z3.ArithRef) -> z3.BoolRef:
        """Slot constant ``x`` holds the numeric ``value``."""
        return x == eq(value, z3.IntVal(1)) if self.is_bool[slot] else x == value  # type: ignore[return-value]

    def init(self, s: State) -> z3.BoolRef:
        # z3 holds values; the byte state holds codes (a range lo..hi stored as value - lo)
        codes = self.layout.initial()
        return z3.And(*[self._slot_eq(k, x, z3.IntVal(c + offset(v.type)))
                        for k, (x, c, (v, _)) in enumerate(zip(s, codes, self.layout.slot_vars))])

    def type_invariant(self, s: State) -> z3.BoolRef:
        """Every integer slot lies in its domain (boolean slots cannot leave theirs)."""
        out = []
        for x, b, (v, _) in zip(s, self.is_bool, self.layout.slot_vars):
            if not b:
                lo, hi = domain(v.type, self.layout.n_members)
                out.append(z3.And(lo <= x, x <= hi))
        return z3.And(*out)

    def decode(self, m: z3.ModelRef, s: State) -> bytes:
        """The byte state of the explicit engine that ``m`` assigns to ``s``."""
        vals = []
        for x, b, (decl, _) in zip(s, self.is_bool, self.layout.slot_vars):
            v = m.eval(x, model_completion=True)
            vals.append(int(z3.is_true(v)) if b else v.as_long() - offset(decl.type))
        if any(not 0 <= v < 256 for v in vals):
            raise ModelError(f"state outside every domain: {dict(zip(self.names, vals))}")
        return bytes(vals)

    # ---- transition relation -----------------------------------------------------
    def _build_trans(self) -> z3.BoolRef:
        """T(cur, nxt, sel) over the template constants."""
        parts = [0 <= self.sel, self.sel < len(self.instances)]
        for k, g in enumerate(self.guards):
            parts.append(z3.Implies(self.sel == k, z3.And(g, *self.checks[k])))
        view = self.numeric(self.cur)
        for slot, (x, y) in enumerate(zip(view, self.nxt)):
            nxt: z3.ArithRef = x
            for k in range(len(self.instances) - 1, -1, -1):
                v = self.posts[k][slot]
                if not v.eq(x):
                    nxt = z3.If(self.sel == k, v, nxt)
            parts.append(self._slot_eq(slot, y, nxt))
        return z3.And(*parts)

    def trans(self, s: State, t: State, sel: z3.ArithRef) -> z3.BoolRef:
        pairs = list(zip(self.cur, s)) + list(zip(self.nxt, t)) + [(self.sel, sel)]
        return z3.substitute(self._trans, *pairs)

    def instance_relation(self, k: int, s: State) -> tuple[z3.BoolRef, State]:
        """Enabling condition (guard and in-domain effects) and successor of instance k in state ``s``."""
        pairs = list(zip(self.cur, s))
        enabled = z3.substitute(z3.And(self.guards[k], *self.checks[k]), *pairs)
        post = [eq(v, z3.IntVal(1)) if b else v for v, b in zip(self.posts[k], self.is_bool)]
        return enabled, [z3.substitute(v, *pairs) for v in post]

    def at(self, template: z3.ExprRef, s: State) -> z3.ExprRef:
        """A formula over the template state, moved to state ``s``."""
        return z3.substitute(template, *zip(self.cur, s))

    # ---- predicates ------------------------------------------------------------------
    def condition(self, e: Expr, s: State, where: str = "condition") -> z3.BoolRef:
        """A state predicate written in the modeling language, in state ``s``."""
        view = self._views_cur if s is self.cur else self._views_nxt if s is self.nxt else self.numeric(s)
        return self.terms.cond(resolve_condition(self.model, e, where), view, {})

    def prop(self, p: Property, s: State) -> z3.BoolRef:
        """Property ``p`` holds in state ``s``."""
        key = (id(p), p.id)
        if key not in self._cache:
            if p.kind == DEADLOCK:
                end = (self.condition(self.model.valid_end, self.cur, "valid end states")
                       if self.model.valid_end is not None else z3.BoolVal(False))
                self._cache[key] = z3.Or(end, *self.guards)
            else:
                self._cache[key] = self.condition(p.predicate(self.model), self.cur, f"property {p.id}")
        return self.at(self._cache[key], s)  # type: ignore[return-value]

    def domain_ok(self, s: State) -> z3.BoolRef:
        parts = [z3.Implies(g, z3.And(*c)) for g, c in zip(self.guards, self.checks) if c]
        return self.at(z3.And(*parts), s)  # type: ignore[return-value]

    def distinct(self, s: State, t: State) -> z3.BoolRef:
        return z3.Or(*[x != y for x, y in zip(s, t)])  # type: ignore[operator]
