"""Wait-for graphs built from a model's lock and wait declarations.

Nodes are actors (the exporter, importer i), fences (the DMA job of importer
i) and locks. In a state, the edges are:

- actor -> fence j: the actor is blocked in an action that declares ``waits``
  (its ``when`` holds and its guard is false) and fence j is pending;
- actor -> lock L: the actor is blocked in an action that waits on lock L
  (a step of a multi-step kernel call) and L is held;
- fence j -> lock L: fence j is pending, its signal action is disabled, the
  signal action's guard reads L's holder, and L is held;
- fence j -> actor: fence j is pending and that actor is the only one whose
  code can still signal it (a driver program's thread before its signal);
- lock L -> actor: the actor holds L.

A cycle is a deadlock even while unrelated actors keep moving (R1's B4).
Each edge is a condition over the state, so the *static* graph (every edge
that some state could have) is known before the search; its simple cycles
are enumerated once with networkx, and "no wait-for cycle" becomes one state
predicate that every back end checks like any other invariant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmabuf_check.model.expr import Const, Expr, MemberConst, Op, Var, any_of, conj, subst
from dmabuf_check.model.lang import Action, FenceSet, ForEach, Lock, Model

if TYPE_CHECKING:
    import networkx as nx

MAX_CANDIDATE_CYCLES = 10_000


@dataclass(frozen=True, eq=False)
class Edge:
    src: str
    dst: str
    cond: Expr
    why: str


def _actor_node(model: Model, act: Action, binding: tuple[int, ...]) -> str:
    if act.actor == "exporter":
        return "exporter"
    if act.actor in model.index_sets:
        return f"{model.index_sets[act.actor].member_label} {binding[0] + 1}"
    return act.actor


def _reads(e: Expr, decl) -> bool:
    if isinstance(e, Var):
        return e.decl is decl
    for child in getattr(e, "args", ()) or ():
        if _reads(child, decl):
            return True
    body = getattr(e, "body", None)
    return body is not None and _reads(body, decl)


def _stored(e: Expr, holder) -> set | None:
    """The constants an effect can store into ``holder`` (keeping its value adds none); None: not only
    constants (a parameter, arithmetic), so any value."""
    if isinstance(e, Const):
        return {e.value}
    if isinstance(e, Var) and e.decl is holder and e.index is None:
        return set()
    if isinstance(e, Op) and e.op == "ite":
        then, other = _stored(e.args[1], holder), _stored(e.args[2], holder)
        return None if then is None or other is None else then | other
    return None


def _possible_holders(model: Model, lock: Lock) -> set | None:
    """Every value some action can make the lock's holder (None when that cannot be read off the effects):
    a thread that never takes the lock gets no lock -> thread edge, which keeps the candidate cycles of a
    program with many threads and locks few."""
    out = {lock.holder.init}
    for act in model.actions:
        for eff in act.effects:
            if isinstance(eff, ForEach):
                if any(a.target.decl is lock.holder for a in eff.body):
                    return None
                continue
            if eff.target.decl is lock.holder:
                vals = _stored(eff.value, lock.holder)
                if vals is None:
                    return None
                out |= vals
    return out


def _holder_edges(lock: Lock, model: Model) -> list[Edge]:
    """lock -> whoever holds it."""
    out = []
    holder = Var(lock.holder)
    possible = _possible_holders(model, lock)
    for special, actor in lock.actors.items():
        if possible is not None and special not in possible:
            continue
        out.append(Edge(f"lock {lock.name}", actor, holder == special, f"{actor} holds {lock.name}"))
    t = lock.holder.type
    index = getattr(t, "index", None)
    if index is not None:
        for m in index.members():
            who = f"{index.member_label} {m + 1}"
            out.append(Edge(f"lock {lock.name}", who, holder == MemberConst(index, m), f"{who} holds {lock.name}"))
    return out


def _fences(fs: FenceSet) -> list[tuple[str, Expr | None]]:
    """(node name, member) of each fence of a set; a global fence (index None) is one node."""
    if fs.index is None:
        return [(fs.name, None)]
    return [(f"{fs.name} {j + 1}", MemberConst(fs.index, j)) for j in fs.index.members()]


def edges(model: Model) -> list[Edge]:
    """Every potential wait-for edge of ``model`` with the condition under which it exists."""
    out: list[Edge] = []
    for act in model.actions:
        if act.waits is None:
            continue
        on = act.waits.on
        bindings = [()] if not act.params else [(m,) for m in act.params[0].index.members()]
        for b in bindings:
            env = {p: MemberConst(p.index, v) for p, v in zip(act.params, b)}
            blocked = subst(act.waits.when, env) & ~subst(act.guard, env)
            who = _actor_node(model, act, b)
            if isinstance(on, Lock):  # blocked acquiring a lock somebody holds
                out.append(Edge(who, f"lock {on.name}", blocked & on.held(),
                                f"{who} waits in {act.name} for lock {on.name}"))
                continue
            for node, jm in _fences(on):
                out.append(Edge(who, node, blocked & on.pending(jm), f"{who} waits in {act.name} for {node}"))
    for fs in model.fences:
        for actor, can in fs.can_signal.items():
            others = [] if fs.needs_all else [~c for a, c in fs.can_signal.items() if a != actor]
            why = f"{fs.name} waits for {actor}" if fs.needs_all else f"only {actor} can still signal {fs.name}"
            for node, jm in _fences(fs):
                out.append(Edge(node, actor, conj(fs.pending(jm), can, *others), why))
        if not fs.signal:
            continue  # a waitable with no signal action of its own (an rwsem's holders)
        sig = model.action_named(fs.signal)
        for node, jm in _fences(fs):
            guard = subst(sig.guard, {sig.params[0]: jm}) if sig.params and jm is not None else sig.guard
            for lk in model.locks:
                if _reads(guard, lk.holder):
                    out.append(Edge(node, f"lock {lk.name}",
                                    fs.pending(jm) & ~guard & lk.held(),
                                    f"{node} cannot signal while {lk.name} is held"))
    for lk in model.locks:
        out.extend(_holder_edges(lk, model))
    return out


def _may_have_cycle(es: list[Edge]) -> bool:
    """Peel nodes without incoming or outgoing edges (Kahn); a cycle survives peeling."""
    live = list(es)
    while True:
        srcs = {e.src for e in live}
        dsts = {e.dst for e in live}
        kept = [e for e in live if e.src in dsts and e.dst in srcs]
        if len(kept) == len(live):
            return bool(kept)
        live = kept


def static_graph(model: Model) -> nx.MultiDiGraph:
    import networkx as nx  # imported on use: it costs a tenth of a second at start-up

    g = nx.MultiDiGraph()
    for e in edges(model):
        g.add_edge(e.src, e.dst, edge=e)
    return g


def candidate_cycles(model: Model) -> list[list[Edge]]:
    """Simple cycles of the static wait-for graph, each as its list of edges."""
    es = edges(model)
    if not _may_have_cycle(es):
        return []  # the common case for a correct design, decided without importing networkx
    parallel: dict[tuple[str, str], list[Edge]] = {}  # the edges from u to v, in the order they were found
    for e in es:
        parallel.setdefault((e.src, e.dst), []).append(e)
    out: list[list[Edge]] = []
    for nodes in _in_order(simple_cycles(parallel)):  # node cycles first; parallel edges are expanded below
        hops = list(zip(nodes, nodes[1:] + nodes[:1]))
        choices: list[list[Edge]] = [[]]
        for u, v in hops:
            choices = [c + [e] for c in choices for e in parallel[(u, v)]]
        out.extend(choices)
        if len(out) > MAX_CANDIDATE_CYCLES:
            raise ValueError(f"more than {MAX_CANDIDATE_CYCLES} candidate wait-for cycles; the model is too large")
    return out


def simple_cycles(arcs: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Every elementary cycle of the directed graph of ``arcs``, self-loops included, each once (Johnson's
    algorithm, as ``networkx.simple_cycles`` finds them, in another order): a design whose wait-for graph may
    have a cycle is checked without importing networkx, a tenth of a second of a small check's start-up."""
    succ: dict[str, list[str]] = {}
    for u, v in arcs:
        succ.setdefault(u, [])
        succ.setdefault(v, [])
        if v not in succ[u]:
            succ[u].append(v)
    out: list[list[str]] = []
    rest = set(succ)
    for s in sorted(succ):  # the cycles through s among the nodes not yet used as a start
        comp = _reach(s, succ, rest) & _reach(s, _reverse(succ, rest), rest)  # s's strongly connected component
        rest.discard(s)
        if s in succ[s]:
            out.append([s])
        if len(comp) > 1:
            out.extend(_circuits(s, succ, comp))
    return out


def _reverse(succ: dict[str, list[str]], within: set[str]) -> dict[str, list[str]]:
    pred: dict[str, list[str]] = {n: [] for n in within}
    for u in within:
        for v in succ[u]:
            if v in within:
                pred[v].append(u)
    return pred


def _reach(s: str, succ: dict[str, list[str]], within: set[str]) -> set[str]:
    seen, todo = {s}, [s]
    while todo:
        for w in succ[todo.pop()]:
            if w in within and w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def _circuits(s: str, succ: dict[str, list[str]], comp: set[str]) -> list[list[str]]:
    """The cycles through ``s`` inside its component ``comp`` (Johnson 1975: a node stays blocked until a
    cycle through it is found, so every path explored ends in a cycle)."""
    out: list[list[str]] = []
    path = [s]
    blocked = {s}
    b: dict[str, set[str]] = {n: set() for n in comp}
    nexts = {n: [w for w in succ[n] if w in comp and w != n] for n in comp}
    stack = [(s, iter(nexts[s]), False)]  # (node, its successors left, a cycle found through it)
    while stack:
        v, it, found = stack[-1]
        w = next(it, None)
        if w is not None:
            if w == s:
                out.append(list(path))
                stack[-1] = (v, it, True)
            elif w not in blocked:
                path.append(w)
                blocked.add(w)
                stack.append((w, iter(nexts[w]), False))
            continue
        stack.pop()  # every successor of v tried
        if found:
            todo = [v]
            while todo:  # unblock v, and whatever waits on it
                u = todo.pop()
                if u in blocked:
                    blocked.discard(u)
                    todo.extend(b[u])
                    b[u].clear()
        else:
            for x in nexts[v]:
                b[x].add(v)
        path.pop()
        if stack:
            u, uit, ufound = stack[-1]
            stack[-1] = (u, uit, ufound or found)
    return out


def _in_order(cycles) -> list[list[str]]:
    """networkx finds cycles in an order that follows string hashing (it varies between runs): each cycle
    from its smallest node, the cycles sorted, so the generated checker is the same in every process (a
    checkpoint's fingerprint depends on it)."""
    out = []
    for c in cycles:
        k = c.index(min(c))
        out.append(c[k:] + c[:k])
    return sorted(out)


def no_cycle(model: Model) -> Expr:
    """The predicate: no candidate cycle has all its edges present."""
    return ~any_of([conj(*(e.cond for e in cyc)) for cyc in candidate_cycles(model)])


def state_graph(model: Model, holds) -> nx.DiGraph:
    """The wait-for graph of one state; ``holds(expr)`` evaluates a condition in that state."""
    import networkx as nx

    g = nx.DiGraph()
    for e in edges(model):
        if holds(e.cond):
            g.add_edge(e.src, e.dst, why=e.why)
    return g
