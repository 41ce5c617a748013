"""Candidate invariants built from a model's own atoms, filtered on concrete states.

The strengthening search (Houdini, in ``checker.z3.houdini`` for a fixed N and
``checker.z3.alln`` for every N) needs candidate lemmas. They are not written per
model: the atoms are harvested from the model itself,

- the conjuncts and conditions of every guard and ``when`` effect,
- the comparisons inside every property predicate,
- ``target = value`` of every copy or constant assignment (``loc[i] = storage``),
- one atom per value of every enumeration, reference and 0/1 variable,

with an action's or quantifier's member parameter renamed to one canonical
``i``. Candidates are the atoms' literals and every clause of two literals
(``∀i. map[i] = 1 ⇒ att[i] = 1``), plus the model's other invariant
properties (``pin-count``) and any lemmas a user supplies.

Most candidates are false; each is first evaluated on concrete reachable
states of small instances (compiled with ``model.pycompile``), which is cheap
and only ever removes candidates that are not invariants. What survives is
handed to z3, which alone decides what is proved.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from dmabuf_check.checker.z3.model_text import show_expr
from dmabuf_check.model.expr import Const, Expr, MemberConst, Op, Param, Quant, Var, disj, lift, subst
from dmabuf_check.model.lang import Assign, ForEach, Model
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.model.types import BoolType, EnumType, IndexSet, RangeType, RefType
from dmabuf_check.properties.base import INVARIANT, Property


@dataclass(frozen=True)
class Candidate:
    """A closed state predicate proposed as a lemma; ``text`` identifies it across instances of a model."""

    text: str
    expr: Expr
    source: str  # clause | property | user
    lits: tuple[tuple[int, bool], ...] = ()  # for clauses: (atom number, polarity)


def _free_params(e: Expr, bound: frozenset = frozenset()) -> set[Param]:
    if isinstance(e, Param):
        return set() if e in bound else {e}
    if isinstance(e, Var):
        return _free_params(e.index, bound) if e.index is not None else set()
    if isinstance(e, Op):
        return set().union(*(_free_params(a, bound) for a in e.args))
    if isinstance(e, Quant):
        return _free_params(e.body, bound | {e.param})
    return set()


def _has_member_const(e: Expr) -> bool:
    if isinstance(e, MemberConst):
        return True
    if isinstance(e, Var):
        return e.index is not None and _has_member_const(e.index)
    if isinstance(e, Op):
        return any(_has_member_const(a) for a in e.args)
    if isinstance(e, Quant):
        return _has_member_const(e.body)
    return False


def _normalise(e: Expr) -> tuple[Expr, bool]:
    """(atom, polarity): strip negations, ``≠``, and ``b = 0`` of a 0/1 variable."""
    if isinstance(e, Op) and e.op == "not":
        a, pos = _normalise(e.args[0])
        return a, not pos
    if isinstance(e, Op) and e.op == "ne":
        a, pos = _normalise(Op("eq", e.args))
        return a, not pos
    if isinstance(e, Op) and e.op == "eq":
        x, y = e.args
        if isinstance(x, Const) and not isinstance(y, Const):
            x, y = y, x
        if isinstance(x, Var) and isinstance(x.decl.type, BoolType) and isinstance(y, Const) and y.type is None:
            if y.value in (0, False):
                return Op("eq", (x, Const(1))), False
            if y.value in (1, True):
                return Op("eq", (x, Const(1))), True
        return Op("eq", (x, y)), True
    return e, True


class AtomCollector:
    """The atoms of one model, as closed expressions or expressions over the canonical parameter ``i``."""

    def __init__(self, model: Model, index: IndexSet, i: Param):
        self.model = model
        self.index = index
        self.i = i
        self.atoms: dict[str, Expr] = {}

    def add(self, e: Expr, rename: dict[Param, Expr]) -> None:
        e = subst(e, rename) if rename else e
        if isinstance(e, Op) and e.op in ("and", "or", "implies", "not"):
            for a in e.args:
                self.add(a, {})
            return
        if isinstance(e, Quant) and e.kind in ("forall", "exists"):
            inner, _ = _normalise(e.body)
            if not (isinstance(inner, Op) and inner.op in ("and", "or", "implies")):
                self._keep(e)  # a quantified comparison (∀j. fence[j] = 0) is an atom of its own
            if not _free_params(e.body) - {e.param, self.i}:
                self.add(e.body, {e.param: self.i})  # the body, for one member
            return
        if isinstance(e, Const):
            return
        self._keep(e)

    def _keep(self, e: Expr) -> None:
        atom, _ = _normalise(e)
        if _free_params(atom) - {self.i} or _has_member_const(atom):
            return  # names a second member or a fixed one: not a one-member clause
        self.atoms.setdefault(show_expr(atom), atom)

    def from_model(self, properties: Iterable[Property]) -> None:
        for act in self.model.actions:
            ren: dict[Param, Expr] = {act.params[0]: self.i} if len(act.params) == 1 else {}
            self.add(act.guard, ren)
            for eff in act.effects:
                body = eff.body if isinstance(eff, ForEach) else (eff,)
                er = {**ren, eff.param: self.i} if isinstance(eff, ForEach) else ren
                for a in body:
                    self._effect(a, er)
        for p in properties:
            if p.kind == INVARIANT:
                try:
                    self.add(p.predicate(self.model), {})
                except (ValueError, RecursionError):
                    continue
        for v in self.model.variables:
            x = v.ref() if v.index is None else v[self.i]
            t = v.type
            if isinstance(t, BoolType):
                self._keep(x == 1)
            elif isinstance(t, EnumType):
                for lab in t.labels:
                    self._keep(x == lab)
            elif isinstance(t, RefType):
                for sp in t.specials:
                    self._keep(x == sp)
                if v.index is None:
                    self._keep(x == self.i)
            elif isinstance(t, RangeType):
                self._keep(x == t.lo)

    def _effect(self, a: Assign, rename: dict[Param, Expr]) -> None:
        value = a.value
        while isinstance(value, Op) and value.op == "ite":
            self.add(value.args[0], rename)
            value = value.args[1]
        if isinstance(value, (Var, Const, Param)):
            self.add(Op("eq", (a.target, value)), rename)


def model_index(model: Model) -> IndexSet:
    sets = {v.index.name: v.index for v in model.variables if v.index is not None}
    if len(sets) != 1:
        return IndexSet("none", 1) if not sets else next(iter(sets.values()))
    return next(iter(sets.values()))


def generate(model: Model, properties: Sequence[Property] = (), user: Sequence[Expr] = (),
             exclude: str = "") -> tuple[list[Candidate], list[Expr]]:
    """Candidates of ``model`` (and its atoms); ``exclude`` is the property being proved."""
    index = model_index(model)
    i = Param("i", index)
    col = AtomCollector(model, index, i)
    col.from_model(properties)
    atoms = list(col.atoms.values())
    # a quantified atom is parenthesised, so that ¬((∀j. ...) ∧ b) cannot be misread
    texts = [f"({t})" if isinstance(a, Quant) else t for t, a in col.atoms.items()]
    unary = [i in _free_params(a) for a in atoms]
    out: list[Candidate] = []

    def lit(k: int, pos: bool) -> Expr:
        return atoms[k] if pos else Op("not", (atoms[k],))

    def lit_text(k: int, pos: bool) -> str:
        return texts[k] if pos else f"¬({texts[k]})"

    literals = [(k, pos) for k in range(len(atoms)) for pos in (True, False)]
    for k, pos in literals:
        body = lit(k, pos)
        e = Quant("forall", i, body) if unary[k] else body
        out.append(Candidate(("∀i. " if unary[k] else "") + lit_text(k, pos), e, "clause", ((k, pos),)))
    for (k1, p1), (k2, p2) in itertools.combinations(literals, 2):
        if k1 == k2:
            continue
        body = disj(lit(k1, p1), lit(k2, p2))
        if not p1 and p2:
            text = f"{texts[k1]} ⇒ {texts[k2]}"
        elif p1 and not p2:
            text = f"{texts[k2]} ⇒ {texts[k1]}"
        elif not p1 and not p2:
            text = f"¬({texts[k1]} ∧ {texts[k2]})"
        else:
            text = f"{texts[k1]} ∨ {texts[k2]}"
        uq = unary[k1] or unary[k2]
        out.append(Candidate(("∀i. " if uq else "") + text, Quant("forall", i, body) if uq else body, "clause",
                             ((k1, p1), (k2, p2))))
    for p in properties:
        if p.kind == INVARIANT and p.id != exclude:
            out.append(Candidate(p.id, p.predicate(model), "property"))
    for e in user:
        out.append(Candidate(show_expr(e), lift(e), "user"))
    return out, atoms


# ---- concrete filtering ----------------------------------------------------------------


def clipped_successors(c: Compiled) -> Callable[[bytes], list[tuple[int, bytes]]]:
    """Like ``Compiled.successors``, but an instance that would leave a domain is just not taken.

    That is the transition relation of the z3 encodings (``checker.z3.encode``),
    so candidates are filtered on exactly the states the proofs are about.
    """
    lines = ["def clipped_successors(s):", f"    {c.unpack}", "    out = []"]
    for k in range(len(c.instances)):
        lines += ["    try:", *c.instance_source(k, "        ", f"out.append(({k}, n))"),
                  "    except DomainError:", "        pass"]
    lines.append("    return out")
    return c.function("clipped_successors", "\n".join(lines))


def sample_states(c: Compiled, limit: int = 30_000, walks: int = 40, walk_len: int = 150, seed: int = 1) -> set[bytes]:
    """Reachable states: breadth-first up to ``limit`` (all of them for small instances), plus random walks."""
    successors = clipped_successors(c)
    seen = {c.initial}
    frontier = [c.initial]
    while frontier and len(seen) < limit:
        nxt = []
        for s in frontier:
            for _, n in successors(s):
                if n not in seen:
                    seen.add(n)
                    nxt.append(n)
        frontier = nxt
    if frontier:  # not exhausted: deep states come from random walks
        rng = random.Random(seed)
        for _ in range(walks):
            s = c.initial
            for _ in range(walk_len):
                succ = successors(s)
                if not succ:
                    break
                s = rng.choice(succ)[1]
                seen.add(s)
    return seen


def falsified(model: Model, candidates: Sequence[Candidate], atoms: Sequence[Expr], states: Iterable[bytes],
              c: Compiled | None = None, expired: Callable[[], bool] | None = None) -> set[str]:
    """Texts of the candidates that some state in ``states`` violates (those found before ``expired()``:
    a candidate kept for want of time is still checked by Houdini, so stopping early is sound).

    Clauses are decided from per-atom member bitmasks (one compiled function
    computes every atom for every member), so each distinct mask vector costs
    one OR per clause; properties and user lemmas are compiled predicates.
    """
    c = c or Compiled(model)
    n = max(c.layout.n_members, 1)  # a model without members: its clauses are over plain atoms, one bit
    full = (1 << n) - 1
    index = model_index(model)
    i_params = {p for a in atoms for p in _free_params(a)}
    srcs = []
    for a in atoms:
        if i_params & _free_params(a):
            parts = [c.condition(subst(a, {p: MemberConst(index, m) for p in i_params}), "candidate atom")
                     for m in range(n)]
            srcs.append("(" + " | ".join(f"(({p}) << {m})" for m, p in enumerate(parts)) + ")")
        else:
            srcs.append(f"({full} if {c.condition(a, 'candidate atom')} else 0)")
    name = f"cand_atoms_{id(atoms)}"
    fn: Callable = (c.function(name, f"def {name}(s):\n    {c.unpack}\n    return (" + ", ".join(srcs) + ",)")
                    if srcs else (lambda s: ()))
    others = [x for x in candidates if not x.lits]
    preds = {x.text: c.predicate(f"cand_{k}_{id(x)}", c.condition(x.expr, x.text)) for k, x in enumerate(others)}
    dead: set[str] = set()
    vectors: set[tuple[int, ...]] = set()
    for k, s in enumerate(states):
        if expired is not None and k % 512 == 0 and expired():
            break
        vectors.add(fn(s))
        for text, pred in preds.items():
            if text not in dead and not pred(s):
                dead.add(text)
    clauses = [x for x in candidates if x.lits and x.text not in dead]
    if not clauses or not vectors:
        return dead
    # transposed: for atom a and member m, the set of vectors (as one big int's bits) where a holds for m;
    # a clause survives iff for every member the union over its literals covers every vector
    order = list(vectors)
    every = (1 << len(order)) - 1
    width = len(order[0])
    holds = [[0] * n for _ in range(width)]
    for bit, vec in enumerate(order):
        one = 1 << bit
        for a in range(width):
            v = vec[a]
            if v:
                row = holds[a]
                for m in range(n):
                    if v >> m & 1:
                        row[m] |= one
    for j, x in enumerate(clauses):
        if expired is not None and j % 256 == 0 and expired():
            break
        for m in range(n):
            cover = 0
            for a, pos in x.lits:
                cover |= holds[a][m] if pos else every ^ holds[a][m]
            if cover != every:
                dead.add(x.text)
                break
    return dead


def filtered(build: Callable[[int], Model], sizes: Sequence[int], properties: Sequence[Property],
             exclude: str = "", user_lemmas: Callable[[Model], Sequence[Expr]] | None = None,
             limit: int = 30_000, expired: Callable[[], bool] | None = None) -> set[str]:
    """Texts of the candidates that no sampled reachable state of ``build(n)``, n in ``sizes``, violates."""
    alive: set[str] | None = None
    for n in sizes:
        m = build(n)
        cands, atoms = generate(m, properties, user_lemmas(m) if user_lemmas else (), exclude)
        c = Compiled(m)
        dead = falsified(m, cands, atoms, sample_states(c, limit), c, expired)
        texts = {x.text for x in cands} - dead
        alive = texts if alive is None else alive & texts
    return alive or set()
