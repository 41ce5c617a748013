"""A model for every number of members at once: the parameterised z3 encoding.

N is a z3 integer (N >= 1). A per-member variable is an array from the
integers to its codes, read at indices 0..N-1; a global is an integer. An
action with a member parameter is the existential choice of a member
0 <= i < N; ``forall``/``exists`` become z3 quantifiers bounded by N; a
ForEach effect becomes one array update (a z3 lambda), which is only exact
when no member's update reads another member's updated value (checked, else
``FragmentError``).

Counting (``count``, and ``sum`` of a 0/1 body) is outside the decidable
fragment. It is encoded by *cardinality facts* that are theorems about finite
sets, instantiated for the sets the formula mentions: each #{j | φ} in a view
is a fresh integer c with 0 <= c <= N, c = 0 ⇔ no member satisfies φ, c = N ⇔
all do; for two views u, v of the same φ and any member p < N,
(∀j≠p. φ_u(j) = φ_v(j)) ⇒ c_v = c_u + [φ_v(p)] - [φ_u(p)], and equal sets
have equal counts. Facts are sound, so every proof stays a proof; they are
incomplete, so z3 may answer with a counterexample to induction that no real
state has, which is then reported as such, never as a violation.

Domains follow the model: a variable whose type differs between sizes (a pin
count 0..N) gets the affine bounds of its type at N=2 and N=3 when N=4
confirms them, and no range constraint at all otherwise (an
over-approximation: proofs stay sound).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import z3
from dmabuf_check.checker.z3.model_text import show_expr
from dmabuf_check.checker.z3.terms import FragmentError, Terms, domain, reads_vars
from dmabuf_check.model.expr import Const, Expr, MemberConst, Op, Param, Quant, Var
from dmabuf_check.model.lang import Action, Assign, ForEach, Model, Variable
from dmabuf_check.model.typecheck import resolve_actions, resolve_condition
from dmabuf_check.model.types import BoolType, ModelError, RangeType
from dmabuf_check.properties.base import DEADLOCK, Property

_ids = itertools.count()


@dataclass
class View:
    """One state (or an intermediate state inside an action): a term per variable."""

    terms: dict[Variable, z3.ExprRef]
    id: int = field(default_factory=lambda: next(_ids))


def _affine(points: list[tuple[int, int]]) -> Callable[[z3.ArithRef], z3.ArithRef] | None:
    """The affine function through the first two points, if the others lie on it."""
    (x0, y0), (x1, y1) = points[0], points[1]
    if (y1 - y0) % (x1 - x0):
        return None
    slope = (y1 - y0) // (x1 - x0)
    base = y0 - slope * x0
    if any(y != base + slope * x for x, y in points[2:]):
        return None
    return lambda n: base + slope * n if slope else z3.IntVal(base)


class ParamTerms(Terms):
    """Members are z3 integers; quantifiers are z3 quantifiers (or unrolled for a concrete N, see ``unroll``)."""

    def __init__(self, system: ParamSystem):
        self.sys = system
        self.facts: list[z3.BoolRef] = []
        self.counts: dict[tuple, z3.ArithRef] = {}
        self.count_views: dict[str, list[tuple[Callable[[z3.ArithRef], z3.BoolRef], z3.ArithRef]]] = {}
        self.pivots: list[z3.ArithRef] = []  # every action's member choice: where two views may differ
        self.emitted: set[tuple] = set()
        self.unroll: int | None = None  # evaluate quantifiers over 0..unroll-1 (reading a z3 model)
        self.bound_ids: set[int] = set()  # quantifier-bound variables

    def member(self, e: Expr, env: dict[Param, Any]) -> Any:
        if isinstance(e, Param):
            return env[e]
        if isinstance(e, MemberConst):
            raise FragmentError(f"it names the fixed {e.index.member_label} {e.member + 1}")
        raise ModelError("an index must be a parameter")

    def member_num(self, m: Any) -> z3.ArithRef:
        return m

    def read(self, view: View, decl: Variable, member: Any) -> z3.ArithRef:
        t = view.terms[decl]
        return t if member is None else z3.Select(t, member)  # type: ignore[arg-type,return-value]

    def write(self, view: View, decl: Variable, member: Any, value: z3.ArithRef) -> View:
        terms = dict(view.terms)
        terms[decl] = value if member is None else z3.Store(terms[decl], member, value)  # type: ignore[arg-type]
        return View(terms)

    def bounds(self, decl: Variable) -> tuple[Any, Any]:
        return self.sys.bounds(decl)

    def assign(self, a: Assign, view: View, env: dict[Param, Any], checks: list[z3.BoolRef] | None) -> View:
        value = self.num(a.value, view, env)
        decl = a.target.decl
        member = None if a.target.index is None else self.member(a.target.index, env)
        if checks is not None and self.sys.has_domain(decl):
            lo, hi = self.sys.bounds(decl)
            checks.append(z3.And(lo <= value, value <= hi))
        return self.write(view, decl, member, value)

    def _bound(self, name: str) -> z3.ArithRef:
        j = z3.Int(f"{name}!{next(_ids)}")
        self.bound_ids.add(j.get_id())
        return j

    def in_range(self, j: z3.ArithRef) -> z3.BoolRef:
        return z3.And(0 <= j, j < self.sys.N)

    def quantifier(self, q: Quant, view: View, env: dict[Param, Any]) -> z3.ExprRef:
        if self.unroll is not None:
            members = [z3.IntVal(m) for m in range(self.unroll)]
            if q.kind == "forall":
                return z3.And(*[self.cond(q.body, view, {**env, q.param: m}) for m in members])
            if q.kind == "exists":
                return z3.Or(*[self.cond(q.body, view, {**env, q.param: m}) for m in members])
            key = self._count_key(q, view, env)
            if key in self.counts:
                return self.counts[key]  # the value z3 believed, so evaluation agrees with the query
        if q.kind in ("forall", "exists"):
            j = self._bound(q.param.name)
            body = self.cond(q.body, view, {**env, q.param: j})
            if q.kind == "forall":
                return z3.ForAll([j], z3.Implies(self.in_range(j), body))
            return z3.Exists([j], z3.And(self.in_range(j), body))
        return self.count(q, view, env)

    def _count_key(self, q: Quant, view: View, env: dict[Param, Any]) -> tuple:
        read = sorted(reads_vars(q.body), key=lambda v: v.name)
        return (show_expr(q.body), tuple(view.terms[v].get_id() for v in read),
                tuple(sorted((p.name, t.get_id()) for p, t in env.items() if p is not q.param)))

    def count(self, q: Quant, view: View, env: dict[Param, Any]) -> z3.ArithRef:
        """#{j | body} (or Σ of a 0/1 body) as a fresh integer with the cardinality facts."""
        body = q.body
        if any(env[p].get_id() in self.bound_ids for p in _params_in(body) if p is not q.param and p in env):
            # the count would be one constant for every value of an enclosing quantifier's variable
            raise FragmentError(f"#{{{show_expr(body)}}} depends on the variable of an enclosing quantifier")
        if q.kind == "sum":
            if not isinstance(body.type, (BoolType, RangeType)) or (
                    isinstance(body.type, RangeType) and (body.type.lo, body.type.hi) != (0, 1)):
                raise FragmentError(f"Σ {show_expr(body)} sums values outside 0..1")
            body = Op("ne", (body, _zero(body)))
        if self.unroll is not None:
            members = [z3.IntVal(m) for m in range(self.unroll)]
            return z3.Sum(*[z3.If(self.cond(body, view, {**env, q.param: m}), 1, 0) for m in members])
        key = self._count_key(q, view, env)
        if key in self.counts:
            return self.counts[key]
        c = z3.Int(f"#{{{show_expr(q.body)}}}!{next(_ids)}")
        self.counts[key] = c

        def phi(j: z3.ArithRef) -> z3.BoolRef:
            return self.cond(body, view, {**env, q.param: j})

        n = self.sys.N
        j = self._bound("j")
        self.facts += [0 <= c, c <= n,
                       (c == 0) == z3.ForAll([j], z3.Implies(self.in_range(j), z3.Not(phi(j)))),
                       (c == n) == z3.ForAll([j], z3.Implies(self.in_range(j), phi(j)))]
        self.count_views.setdefault(key[0] + repr(key[2]), []).append((phi, c))
        return c

    def pair_facts(self) -> list[z3.BoolRef]:
        """Facts relating every two counts of the same set in different views, for every pivot member.

        Emitted lazily (``ParamSystem.take_facts``) so that counts translated
        before a transition still get the pivots of its actions.
        """
        out: list[z3.BoolRef] = []
        for views in self.count_views.values():
            for (phi_u, c_u), (phi_v, c_v) in itertools.combinations(views, 2):
                for p in [None, *self.pivots]:
                    key = (c_u.get_id(), c_v.get_id(), None if p is None else p.get_id())
                    if key in self.emitted:
                        continue
                    self.emitted.add(key)
                    k = self._bound("j")
                    if p is None:  # equal sets have equal sizes
                        same = z3.ForAll([k], z3.Implies(self.in_range(k), phi_u(k) == phi_v(k)))
                        out.append(z3.Implies(same, c_u == c_v))
                    else:  # sets that differ at most in member p
                        same = z3.ForAll([k], z3.Implies(z3.And(self.in_range(k), k != p), phi_u(k) == phi_v(k)))
                        out.append(z3.Implies(z3.And(self.in_range(p), same),
                                              c_v == c_u + z3.If(phi_v(p), 1, 0) - z3.If(phi_u(p), 1, 0)))
        return out

    def for_each(self, eff: ForEach, view: View, env: dict[Param, Any], checks: list[z3.BoolRef] | None) -> View:
        written = {a.target.decl for a in eff.body}
        for a in eff.body:
            if a.target.index is None or not (isinstance(a.target.index, Param) and a.target.index is eff.param):
                raise FragmentError(f"a for-each effect assigns {show_expr(a.target)}, not a member's own variable")
            if not _reads_own(a.value, eff.param, written):
                raise FragmentError(f"a for-each effect's value {show_expr(a.value)} reads another member's "
                                    "updated variable")
        j = self._bound(eff.param.name)
        for a in eff.body:
            value = self.num(a.value, view, {**env, eff.param: j})
            decl = a.target.decl
            old = view.terms[decl]
            if checks is not None and self.sys.has_domain(decl):
                lo, hi = self.sys.bounds(decl)
                checks.append(z3.ForAll([j], z3.Implies(self.in_range(j), z3.And(lo <= value, value <= hi))))
            terms = dict(view.terms)
            terms[decl] = z3.Lambda([j], z3.If(self.in_range(j), value, z3.Select(old, j)))  # type: ignore[arg-type]
            view = View(terms)
        return view


def _zero(e: Expr) -> Expr:
    return Const(0, e.type)


def _params_in(e: Expr) -> set[Param]:
    if isinstance(e, Param):
        return {e}
    if isinstance(e, Var):
        return _params_in(e.index) if e.index is not None else set()
    if isinstance(e, Op):
        return set().union(*(_params_in(a) for a in e.args))
    if isinstance(e, Quant):
        return _params_in(e.body) - {e.param}
    return set()


def _reads_own(e: Expr, param: Param, written: set[Variable]) -> bool:
    """Whether ``e`` reads written per-member variables only at ``param`` and no written global."""
    if isinstance(e, Var):
        if e.decl in written:
            return e.index is param
        return True
    if isinstance(e, Op):
        return all(_reads_own(a, param, written) for a in e.args)
    if isinstance(e, Quant):
        return _reads_own(e.body, param, written)
    return True


class ParamSystem:
    """The parameterised transition system of a model family ``build(n)``."""

    def __init__(self, build: Callable[[int], Model]):
        self.build = build
        self.model = build(3)  # expressions are taken from this instance; only its index set is replaced by N
        probes = {n: build(n) for n in (2, 3, 4)}
        names = [v.name for v in self.model.variables]
        for n, m in probes.items():
            if [v.name for v in m.variables] != names or [a.name for a in m.actions] != [
                    a.name for a in self.model.actions]:
                raise ModelError(f"model {self.model.name} has different variables or actions at N={n}")
        self.N = z3.Int("N")
        self._bounds: dict[Variable, tuple[Any, Any]] = {}
        for v in self.model.variables:
            pts = [domain(probes[n].variable(v.name).type, n) for n in (2, 3, 4)]
            lo = _affine([(n, p[0]) for n, p in zip((2, 3, 4), pts)])
            hi = _affine([(n, p[1]) for n, p in zip((2, 3, 4), pts)])
            if lo is not None and hi is not None:
                self._bounds[v] = (lo(self.N), hi(self.N))
        self.actions: list[Action] = resolve_actions(self.model)
        self.terms = ParamTerms(self)
        self.is_member = {v: v.index is not None for v in self.model.variables}

    # ---- domains ------------------------------------------------------------
    def has_domain(self, decl: Variable) -> bool:
        return decl in self._bounds

    def bounds(self, decl: Variable) -> tuple[Any, Any]:
        return self._bounds[decl]

    def unbounded(self) -> list[str]:
        return [v.name for v in self.model.variables if v not in self._bounds]

    # ---- states ------------------------------------------------------------------
    def state(self, tag: str) -> View:
        terms: dict[Variable, z3.ExprRef] = {}
        for v in self.model.variables:
            if self.is_member[v]:
                terms[v] = z3.Array(f"{v.name}{tag}", z3.IntSort(), z3.IntSort())
            else:
                terms[v] = z3.Int(f"{v.name}{tag}")
        return View(terms)

    def init(self, s: View) -> z3.BoolRef:
        parts = [self.N >= 1]
        for v in self.model.variables:
            code = v.type.encode(v.init)
            parts.append(s.terms[v] == (z3.K(z3.IntSort(), z3.IntVal(code)) if self.is_member[v] else code))
        return z3.And(*parts)

    def dom(self, s: View) -> z3.BoolRef:
        parts = [self.N >= 1]
        for v, (lo, hi) in self._bounds.items():
            if self.is_member[v]:
                j = z3.Int(f"j!{next(_ids)}")
                x = z3.Select(s.terms[v], j)  # type: ignore[arg-type]
                parts.append(z3.ForAll([j], z3.Implies(self.terms.in_range(j), z3.And(lo <= x, x <= hi))))
            else:
                parts.append(z3.And(lo <= s.terms[v], s.terms[v] <= hi))
        return z3.And(*parts)

    def same(self, a: View, b: View) -> z3.BoolRef:
        return z3.And(*[a.terms[v] == b.terms[v] for v in self.model.variables])

    # ---- transitions --------------------------------------------------------------
    def action_step(self, act: Action, s: View, tag: str) -> tuple[z3.BoolRef, View, list[z3.ArithRef]]:
        """(enabled, post view, member choices) of ``act`` from ``s``; members are fresh constants."""
        members = [z3.Int(f"{p.name}@{act.name}{tag}") for p in act.params]
        env = dict(zip(act.params, members))
        self.terms.pivots += members
        checks: list[z3.BoolRef] = []
        guard = self.terms.cond(act.guard, s, env)
        post = self.terms.effects(act, s, env, checks)
        enabled = z3.And(*[self.terms.in_range(m) for m in members], guard, *checks)
        return enabled, post, members

    def trans(self, s: View, t: View, tag: str = "") -> tuple[z3.BoolRef, list[tuple[Action, z3.BoolRef,
                                                                                   list[z3.ArithRef]]]]:
        """T(s, t) as a disjunction over actions, and each disjunct for reading which action a model took."""
        parts = []
        for act in self.actions:
            enabled, post, members = self.action_step(act, s, tag)
            parts.append((act, z3.And(enabled, self.same(t, post)), members))
        return z3.Or(*[p for _, p, _ in parts]), parts

    def take_facts(self) -> list[z3.BoolRef]:
        """The cardinality facts produced since the last call (sound; add them to the query)."""
        out, self.terms.facts = self.terms.facts + self.terms.pair_facts(), []
        return out

    # ---- predicates ------------------------------------------------------------------
    def condition(self, e: Expr, s: View, where: str = "condition") -> z3.BoolRef:
        return self.terms.cond(resolve_condition(self.model, e, where), s, {})

    def prop(self, p: Property, s: View) -> z3.BoolRef:
        if p.kind == DEADLOCK:
            end = (self.condition(self.model.valid_end, s, "valid end states") if self.model.valid_end is not None
                   else z3.BoolVal(False))
            some = []
            for act in self.actions:
                js = [z3.Int(f"{q.name}!{next(_ids)}") for q in act.params]
                g = self.terms.cond(act.guard, s, dict(zip(act.params, js)))
                some.append(z3.Exists(js, z3.And(*[self.terms.in_range(j) for j in js], g)) if js else g)
            return z3.Or(end, *some)
        return self.condition(p.predicate(self.model), s, f"property {p.id}")

    # ---- reading a z3 model back ---------------------------------------------------------
    def decode(self, m: z3.ModelRef, s: View, n: int) -> dict[str, object]:
        """The values ``m`` gives state ``s`` for members 0..n-1, in model vocabulary."""
        out: dict[str, object] = {}
        for v in self.model.variables:
            if self.is_member[v]:
                out[v.name] = [_value(v, _int(m, z3.Select(s.terms[v], k))) for k in range(n)]  # type: ignore[arg-type]
            else:
                out[v.name] = _value(v, _int(m, s.terms[v]))
        return out


def _value(v: Variable, code: int) -> object:
    """A code as the explicit engine's ``Layout.decode`` shows it (labels for enumerations and references)."""
    from dmabuf_check.checker.z3.model_text import label

    return code if isinstance(v.type, (BoolType, RangeType)) else label(v.type, code)


def _int(m: z3.ModelRef, t: z3.ExprRef) -> int:
    v = m.eval(t, model_completion=True)
    return v.as_long() if z3.is_int_value(v) else int(z3.is_true(v))

