"""Lock-order analysis: lockdep's dependency graph over every explored interleaving.

Every action records the locks its actor holds when it starts (``holds``) and
those it takes, in order (``acquires``), pseudo-locks included
(``model.lockdep_names``). Over every transition the search explores, an edge
A -> B is recorded whenever B is acquired while A is held: from each held lock
to each acquired one, and from an acquired lock that stays held to the ones
acquired after it in the same action. For each edge the shortest trace that
first created it is kept (the BFS path to the first state the action fired in).

Lockdep reasons about lock *classes*: every reservation lock is
``reservation_ww_class_mutex``. A cycle in the class graph is a possible
deadlock even where this configuration never reaches the deadlock state,
exactly what lockdep reports. Two locks of one class taken in opposite
orders (ABBA between two buffers) form a cycle of lock *instances*; nesting a
class without a ww acquire context is lockdep's "possible recursive locking".
Whether a cycle's deadlock is *actual* here is decided by the same search:
the wait-for property (or a stuck state) is checked in every explored state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from checker import paths
from checker.explicit import Explorer, Limits
from checker.lockrules import RuleSet, rule_name
from checker.result import VIOLATED, Counterexample
from model.lang import Model
from model.lockdep_names import PSEUDO_LOCKS, TRANSIENT
from model.pycompile import Compiled
from properties.base import Property

MAX_CYCLES = 200


@dataclass
class LockEdge:
    """B acquired while A held, with the first (shortest) trace that did it."""

    src: str  # lock instance names, as the actions' metadata names them
    dst: str
    src_class: str  # lockdep class names
    dst_class: str
    src_read: bool  # A held for read (a fence signalling section holds dma_fence_map for read)
    dst_read: bool
    action: str  # the action instance that first created the edge
    actor: str
    call: str
    with_ctx: bool  # a ww acquire context was held
    trace: Counterexample
    held: list[tuple[str, str]] = field(default_factory=list)  # (instance, class) of every lock held then
    breaks: list[str] = field(default_factory=list)  # rules the edge breaks

    @property
    def key(self) -> tuple[str, str]:
        return self.src, self.dst


@dataclass
class LockCycle:
    """A cycle of dependencies; ``edges[i].dst == edges[i+1].src``; the last edge closes it."""

    edges: list[LockEdge]
    level: str  # "class" (lockdep's view) or "instance" (ABBA between locks of one class)
    actual: Counterexample | None = None  # a deadlock this configuration reaches, if any
    potential: str = ""  # what it takes to reach it, when it is not reached here


@dataclass
class LockReport:
    model: str
    params: dict[str, object]
    locks: list[str]  # classes seen
    edges: list[LockEdge]
    cycles: list[LockCycle]
    recursive: list[LockEdge]  # a lock (or class) taken while held, without a ww acquire context
    signalling_waits: list[LockEdge]  # fence waits inside a signalling section
    rule_breaks: list[LockEdge]
    states: int
    seconds: float
    complete: bool
    stop_reason: str = ""
    deadlock: Counterexample | None = None  # the explored configuration's own deadlock, if any

    @property
    def clean(self) -> bool:
        return not (self.cycles or self.recursive or self.signalling_waits or self.rule_breaks)


def lock_class(model: Model, name: str) -> str:
    """The lockdep class of a lock instance."""
    for lk in model.locks:
        if lk.name == name:
            return lk.lock_class or name
    return PSEUDO_LOCKS.get(name, name)


def _depth(explorer: Explorer, k: int) -> int:
    assert explorer._tree is not None
    _, parent, _ = explorer._tree
    v, d = explorer.first[k], 0
    while v:
        v = parent[v]
        d += 1
    return d


def _raw_edges(c: Compiled, rules: RuleSet) -> list[tuple[int, str, str, bool, bool, bool, tuple[str, ...]]]:
    """(instance, held, acquired, held-for-read, acquired-for-read, ctx, all held) from every instance's metadata."""
    out = []
    for k, inst in enumerate(c.instances):
        act = inst.action
        holds = tuple(act.holds)
        if act.name in rules.signalling and "dma_fence_map" not in holds:
            holds = ("dma_fence_map",) + holds  # a rules file marks this action as a signalling path
        ctx = "ww_acquire" in holds or "ww_acquire" in act.acquires
        held_now = [(h, h == "dma_fence_map") for h in holds]
        for a in act.acquires:
            for h, h_read in held_now:
                out.append((k, h, a, h_read, False, ctx, tuple(x for x, _ in held_now)))
            if a not in TRANSIENT:
                held_now.append((a, False))
    return out


def analyze(
    model: Model,
    deadlock_properties: list[Property],
    rules: RuleSet,
    *,
    symmetry: bool = True,
    limits: Limits | None = None,
    bigger: Callable[[int], Model] | None = None,
    max_extra_importers: int = 2,
) -> LockReport:
    """Explore ``model`` completely and build its lock-order report.

    ``deadlock_properties`` (the wait-for and stuck-state properties) decide
    whether a cycle's deadlock is actual here; ``bigger(n)`` rebuilds the
    model with n importers to look for it in larger configurations.
    """
    t0 = time.perf_counter()
    ex = Explorer(model, deadlock_properties, symmetry=symmetry, record_first=True)
    result = ex.run(stop_at_first=False, limits=limits, exhaustive=True)
    c = ex.c
    best: dict[tuple[str, str], tuple[int, int, bool, bool, bool, tuple[str, ...]]] = {}
    for k, h, a, h_read, a_read, ctx, held in _raw_edges(c, rules):
        if ex.first[k] < 0:
            continue  # metadata of an action that never fired creates no dependency
        d = _depth(ex, k)
        if (h, a) not in best or d < best[(h, a)][0]:
            best[(h, a)] = (d, k, h_read, a_read, ctx, held)
    edges: list[LockEdge] = []
    for (h, a), (_, k, h_read, a_read, ctx, held) in sorted(best.items(), key=lambda kv: (kv[1][0], kv[0])):
        inst = c.instances[k]
        path = ex.path_to_first_fire(k)
        trace = paths.counterexample(c, f"lock-order {h} -> {a}", path)
        last = trace.steps[-1]
        e = LockEdge(h, a, lock_class(model, h), lock_class(model, a), h_read, a_read, last.label, last.actor,
                     inst.action.call.replace("{i}", str(inst.binding[0] + 1)) if inst.binding else inst.action.call,
                     ctx, trace, [(x, lock_class(model, x)) for x in held])
        e.breaks = rules.breaks(rule_name(model, h), rule_name(model, a), h_read)
        edges.append(e)

    recursive = [e for e in edges if e.src_class == e.dst_class and not e.with_ctx and e.src_class != "dma_fence_map"]
    signalling_waits = [e for e in edges if e.src == e.dst == "dma_fence_map" and e.src_read]
    cycles = _cycles(edges, "class") + _cycles(edges, "instance")
    found = sorted((v.counterexample for v in result.verdicts if v.status == VIOLATED and v.counterexample),
                   key=lambda cx: cx.length)
    deadlock = found[0] if found else None
    for cyc in cycles:
        mine = [cx for cx in found if _involves(cyc, cx, model)]
        if mine:
            cyc.actual = mine[0]  # the shortest deadlock this configuration reaches through the cycle
        else:
            cyc.potential = _potential(cyc, model, deadlock_properties, bigger, max_extra_importers, limits)
    return LockReport(
        model=model.name, params=dict(model.params), locks=sorted({e.src_class for e in edges} | {e.dst_class for e in edges}),
        edges=edges, cycles=cycles, recursive=recursive, signalling_waits=signalling_waits,
        rule_breaks=[e for e in edges if e.breaks], states=result.states, seconds=time.perf_counter() - t0,
        complete=result.complete and not result.stop_reason, stop_reason=result.stop_reason, deadlock=deadlock,
    )


def _cycles(edges: list[LockEdge], level: str) -> list[LockCycle]:
    """Simple cycles of the class graph, or of lock instances of one class (ABBA)."""
    import networkx as nx

    g = nx.DiGraph()
    by_hop: dict[tuple[str, str], LockEdge] = {}
    for e in edges:
        if level == "class":
            u, v = e.src_class, e.dst_class
            if u == v:
                continue  # same-class nesting is reported as recursive or as an instance cycle
        else:
            if e.src_class != e.dst_class or e.src == e.dst or e.with_ctx:
                continue  # with an acquire context, wait-die resolves ABBA between instances
            u, v = e.src, e.dst
        if (u, v) not in by_hop or len(e.trace.steps) < len(by_hop[(u, v)].trace.steps):
            by_hop[(u, v)] = e
        g.add_edge(u, v)
    out = []
    for nodes in nx.simple_cycles(g):
        hops = list(zip(nodes, nodes[1:] + nodes[:1]))
        out.append(LockCycle([by_hop[h] for h in hops], level))
        if len(out) >= MAX_CYCLES:
            break
    # report the newest dependency last, as lockdep does when it adds the closing edge
    for cyc in out:
        newest = max(range(len(cyc.edges)), key=lambda i: (len(cyc.edges[i].trace.steps), i))
        cyc.edges = cyc.edges[newest + 1:] + cyc.edges[:newest + 1]
    return sorted(out, key=lambda cy: (len(cy.edges), [e.key for e in cy.edges]))


def _involves(cyc: LockCycle, deadlock: Counterexample, model: Model) -> bool:
    """Does the deadlock found in this configuration go through a lock of the cycle?"""
    names = {e.src for e in cyc.edges} | {e.dst for e in cyc.edges}
    classes = {e.src_class for e in cyc.edges} | {e.dst_class for e in cyc.edges}
    if "dma_fence_map" in classes and "fence" in deadlock.detail:
        return True  # a wait-for cycle through a fence is the dma_fence_map dependency made real
    for lk in model.locks:
        if lk.name in names or lk.lock_class in classes:
            if f"lock {lk.name}" in deadlock.detail:
                return True
            final = deadlock.steps[-1].state if deadlock.steps else deadlock.initial
            if not deadlock.detail and final.get(lk.holder.name) not in (lk.free, None):
                return True  # a stuck state with this lock held
    return False


def _potential(cyc: LockCycle, model: Model, props: list[Property], bigger, extra: int, limits) -> str:
    """Say whether a larger configuration reaches the deadlock (within the same limits)."""
    actors = sorted({e.actor for e in cyc.edges})
    base = f"not reached with {model.params.get('importers', '?')} importers here; the cycle needs " \
           f"{', '.join(actors)} to interleave"
    n = model.params.get("importers")
    if bigger is None or not isinstance(n, int) or not props:
        return base
    for m in range(n + 1, n + extra + 1):
        r = Explorer(bigger(m), props).run(stop_at_first=True, limits=limits or Limits(time_limit=60))
        dl = next((v.counterexample for v in r.verdicts if v.status == VIOLATED), None)
        if dl is not None and _involves(cyc, dl, model):
            return f"not reached with {n} importers; reached with {m} importers ({dl.length} steps)"
    return f"{base}; not reached with up to {n + extra} importers either"
