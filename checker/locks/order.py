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

from dmabuf_check.checker import paths
from dmabuf_check.checker.explicit.search import Explorer, Limits, Progress
from dmabuf_check.checker.locks.rules import RuleSet, rule_name
from dmabuf_check.checker.result import VIOLATED, Counterexample
from dmabuf_check.model.expr import Expr, disj
from dmabuf_check.model.lang import Model
from dmabuf_check.model.lockdep_names import PSEUDO_LOCKS, RESV_CLASS, transient
from dmabuf_check.model.profiles import lockdep_primed
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.properties.base import Property

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
    primed: bool = False  # recorded at boot by dma_resv_lockdep(), not by the model
    actual: Counterexample | None = None  # for a recursive acquisition: the self-deadlock reached here
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
    slow_holding: list[LockEdge]  # ww lock_slow while the context still holds another lock (RESV-W2)
    signalling_waits: list[LockEdge]  # fence waits inside a signalling section
    rule_breaks: list[LockEdge]
    states: int
    seconds: float
    complete: bool
    stop_reason: str = ""
    deadlock: Counterexample | None = None  # the explored configuration's own deadlock, if any
    primed: list[LockEdge] = field(default_factory=list)  # dma_resv_lockdep()'s boot-time dependencies
    usage: dict[str, str] = field(default_factory=dict)  # lock class -> lockdep's "{usage}-{wait type}"
    inconsistent: list[UsageConflict] = field(default_factory=list)  # lockdep's "inconsistent lock state"

    @property
    def clean(self) -> bool:
        return not (self.cycles or self.recursive or self.signalling_waits or self.rule_breaks or self.slow_holding
                    or self.inconsistent)


@dataclass
class UsageConflict:
    """A lock taken in IRQ (or softirq) context and elsewhere with that IRQ enabled: lockdep's
    "inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage" (an interrupt can arrive while the lock is held
    and spin on it on the same CPU)."""

    lock: str
    lock_class: str
    state: str  # HARDIRQ or SOFTIRQ
    first: str  # the usage registered first: IN-HARDIRQ-W or HARDIRQ-ON-W
    registered: dict[str, tuple[str, Counterexample]]  # usage -> (the action that registers it, the run to it)
    both: Counterexample  # the shortest run where the lock has both usages


def lock_class(model: Model, name: str) -> str:
    """The lockdep class of a lock instance."""
    for lk in model.locks:
        if lk.name == name:
            return lk.lock_class or name
    if name == "resv":
        return RESV_CLASS  # how rules and the boot-time priming name any reservation lock
    return PSEUDO_LOCKS.get(name, name)


def _depth(explorer: Explorer, sid: int) -> int:
    assert explorer._tree is not None
    _, parent, _ = explorer._tree
    v, d = sid, 0
    while v:
        v = parent[v]
        d += 1
    return d


def _when(explorer: Explorer, k: int) -> int | None:
    """BFS depth at which instance k first fired, or else first had its actor waiting in it; None if neither.

    A blocking acquisition that never succeeds (a thread relocking what it
    holds) still creates its dependency: lockdep records it at the attempt.
    """
    if explorer.first[k] >= 0:
        return _depth(explorer, explorer.first[k]) + 1
    if explorer.tried[k] >= 0:
        return _depth(explorer, explorer.tried[k])
    return None


def _dependencies(holds: tuple[str, ...], acquires: tuple[str, ...]):
    """(held, acquired, held-for-read, all held) of one action's lock metadata, in acquisition order."""
    held_now = [(h, h == "dma_fence_map") for h in holds]
    for a in acquires:
        for h, h_read in held_now:
            yield h, a, h_read, tuple(x for x, _ in held_now)
        if not transient(a):
            held_now.append((a, False))


def _raw_edges(c: Compiled, rules: RuleSet) -> list[tuple[int, str, str, bool, bool, bool, tuple[str, ...]]]:
    """(instance, held, acquired, held-for-read, acquired-for-read, ctx, all held) from every instance's metadata."""
    out = []
    for k, inst in enumerate(c.instances):
        act = inst.action
        holds = tuple(act.holds)
        if act.name in rules.signalling and "dma_fence_map" not in holds:
            holds = ("dma_fence_map",) + holds  # a rules file marks this action as a signalling path
        ctx = "ww_acquire" in holds or "ww_acquire" in act.acquires
        for h, a, h_read, held in _dependencies(holds, tuple(act.acquires)):
            out.append((k, h, a, h_read, False, ctx, held))
    return out


def static_cycle(model: Model, skip: tuple[str, ...] = ("fs_reclaim", "dma_fence_map")) -> list[str] | None:
    """A cycle of lock classes in what the model's actions hold and take, reached or not (a hint for
    ``analyze``, which decides): the first of the shortest, closed (its first class repeated last)."""
    from dmabuf_check.properties.waitfor import simple_cycles

    arcs = set()
    for act in model.actions:
        for h, a, _h_read, _held in _dependencies(tuple(act.holds), tuple(act.acquires)):
            if h in skip or a in skip:
                continue
            x, y = lock_class(model, h), lock_class(model, a)
            if x != y:
                arcs.add((x, y))
    cycles = simple_cycles(sorted(arcs))
    if not cycles:
        return None
    best = min(cycles, key=len)
    return best + best[:1]


def analyze(
    model: Model,
    deadlock_properties: list[Property],
    rules: RuleSet,
    *,
    symmetry: bool = True,
    limits: Limits | None = None,
    bigger: Callable[[int], Model] | None = None,
    max_extra_importers: int = 2,
    progress: Callable[[Progress], None] | None = None,
) -> LockReport:
    """Explore ``model`` completely and build its lock-order report.

    ``deadlock_properties`` (the wait-for and stuck-state properties) decide
    whether a cycle's deadlock is actual here; ``bigger(n)`` rebuilds the
    model with n importers to look for it in larger configurations.
    """
    t0 = time.perf_counter()
    usage_props = _usage_witnesses(model)
    ex = Explorer(model, list(deadlock_properties) + [p for p, _ in usage_props], symmetry=symmetry,
                  record_first=True)
    result = ex.run(stop_at_first=False, limits=limits, exhaustive=True, progress=progress)
    reached = {v.property: v.counterexample for v in result.verdicts if v.status == VIOLATED and v.counterexample}
    c = ex.c
    best: dict[tuple[str, str], tuple[int, int, bool, bool, bool, tuple[str, ...]]] = {}
    raw = _raw_edges(c, rules)
    for k, h, a, h_read, a_read, ctx, held in raw:
        d = _when(ex, k)
        if d is None:
            continue  # metadata of an action never reached creates no dependency
        if (h, a) not in best or d < best[(h, a)][0]:
            best[(h, a)] = (d, k, h_read, a_read, ctx, held)

    def edge(k: int, h: str, a: str, h_read: bool, a_read: bool, ctx: bool, held: tuple[str, ...]) -> LockEdge:
        if ex.first[k] >= 0:
            path = ex.path_to_first_fire(k)
            k, note = path[-1], ""
        else:
            path, k = ex.path_to_attempt(k)
            note = "blocks here forever"
        inst = c.instances[k]
        trace = paths.counterexample(c, f"lock-order {h} -> {a}", path, note)
        call = inst.action.call.replace("{i}", str(inst.binding[0] + 1)) if inst.binding else inst.action.call
        e = LockEdge(h, a, lock_class(model, h), lock_class(model, a), h_read, a_read, inst.label,
                     paths.actor_of(model, inst.action, inst.binding), call, ctx, trace,
                     [(x, lock_class(model, x)) for x in held])
        e.breaks = rules.breaks(rule_name(model, h), rule_name(model, a), h_read)
        return e

    edges = [edge(k, h, a, h_read, a_read, ctx, held)
             for (h, a), (_, k, h_read, a_read, ctx, held) in sorted(best.items(), key=lambda kv: (kv[1][0], kv[0]))]
    # lock_slow while the context holds another lock (RESV-W2): judged per action, not per dependency
    slow: dict[str, LockEdge] = {}
    for k, h, a, h_read, a_read, ctx, held in raw:
        act = c.instances[k].action
        if ("lock_slow" in act.call and ctx and h != a and act.name not in slow and _when(ex, k) is not None
                and lock_class(model, h) == lock_class(model, a) == RESV_CLASS):
            slow[act.name] = edge(k, h, a, h_read, a_read, ctx, held)

    primed = _primed(model)
    own = {p.id for p in deadlock_properties}
    found = sorted((v.counterexample for v in result.verdicts
                    if v.status == VIOLATED and v.counterexample and v.property in own), key=lambda cx: cx.length)
    deadlock = found[0] if found else None

    def sanctioned(e: LockEdge) -> bool:
        return (rule_name(model, e.src), rule_name(model, e.dst)) in rules.before

    cycles = _without_redundant(_cycles(edges + primed, "class"), sanctioned)
    for cyc in cycles:
        _decide(cyc, found, model, deadlock_properties, bigger, max_extra_importers, limits)
    # ABBA between locks of one class: with an acquire context on every edge wait-die resolves it, unless the
    # back-off is missing, which shows as a deadlock this search reaches
    for cyc in _cycles(edges, "instance"):
        _decide(cyc, found, model, deadlock_properties, None if all(e.with_ctx for e in cyc.edges) else bigger,
                max_extra_importers, limits)
        if cyc.actual is not None or not all(e.with_ctx for e in cyc.edges):
            cycles.append(cyc)
    in_abba = {e.key for cyc in cycles if cyc.level == "instance" for e in cyc.edges}
    recursive = [e for e in edges if e.src_class == e.dst_class and not e.with_ctx and e.src_class != "dma_fence_map"
                 and e.key not in in_abba]
    for e in recursive:
        e.actual = next((cx for cx in found if _involves_locks({e.src, e.dst}, {e.src_class}, cx, model)), None)
    signalling_waits = [e for e in edges if e.src == e.dst == "dma_fence_map" and e.src_read]
    for e in signalling_waits:  # DL-12 is a wait-for cycle through the waited fence, if the search reached one
        e.actual = next((cx for cx in found if _involves_locks({e.src}, {e.src_class}, cx, model)), None)
    slow_holding = sorted(slow.values(), key=lambda e: e.trace.length)
    return LockReport(
        model=model.name, params=dict(model.params), locks=sorted({e.src_class for e in edges} | {e.dst_class for e in edges}),
        edges=edges, cycles=cycles, recursive=recursive, slow_holding=slow_holding, signalling_waits=signalling_waits,
        rule_breaks=[e for e in edges if e.breaks], states=result.states, seconds=time.perf_counter() - t0,
        complete=result.complete and not result.stop_reason, stop_reason=result.stop_reason, deadlock=deadlock,
        primed=primed, usage=_usage_decor(model, reached), inconsistent=_conflicts(model, reached),
    )


# ---- lockdep's usage bits (driver programs: locks taken in IRQ/softirq context) ------------------------------

_STATES = ("HARDIRQ", "SOFTIRQ")


def _usage_witnesses(model: Model) -> list[tuple[Property, tuple[str, str, str]]]:
    """Search targets for lockdep's usage bits: per lock and usage, "no action registers it" (the actions'
    ``marks``), and per lock whose IN and ON bits of one state are both recorded, "never both": the search
    reports where each is first set."""
    marks: dict[tuple[str, str, str], list[Expr]] = {}
    for act in model.actions:
        if act.params:
            continue  # driver programs' steps are unparameterised; design actions register no usage
        for lk, tag, when in act.marks:
            marks.setdefault((lk, tag, act.name), []).append(when)
    out = []
    for (lk, tag, act_name), whens in sorted(marks.items(), key=lambda kv: kv[0]):
        out.append((Property(f"lockdep-usage {lk} {tag} @{act_name}", f"{lk}: {tag}", ("LOCKDEP-4",),
                             "kernel/locking/lockdep.c", build=lambda m, whens=whens: ~disj(*whens)),
                    (lk, act_name, tag)))
    for lk in model.locks:
        for state, (in_v, on_v) in lk.usage.items():
            both = (model.variable(in_v).ref() == 1) & (model.variable(on_v).ref() == 1)
            out.append((Property(f"lockdep-usage {lk.name} {state} both", f"{lk.name}: both {state} usages",
                                 ("LOCKDEP-4",), "kernel/locking/lockdep.c", build=lambda m, both=both: ~both),
                        (lk.name, state, "both")))
    return out


def _usage_decor(model: Model, reached: dict[str, Counterexample]) -> dict[str, str]:
    """``{usage}-{wait type}`` per class as lockdep prints it: per state a write and a read character,
    '.' never, '-' in that IRQ context, '+' with it enabled, '?' both (no read-side locks here)."""
    out: dict[str, str] = {}
    marked = {lk for act in model.actions for lk, _tag, _w in act.marks}
    for lk in model.locks:
        if lk.name not in marked:
            continue  # a design's lock: the report keeps the class's usual decoration
        chars = []
        for state in _STATES:
            in_irq = _registered(reached, lk.name, f"IN-{state}-W") is not None
            on = _registered(reached, lk.name, f"{state}-ON-W") is not None
            chars += ["?" if in_irq and on else "-" if in_irq else "+" if on else ".", "."]
        out[lk.lock_class or lk.name] = "{" + "".join(chars) + "}" + ("-{3:3}" if lk.sleeps else "-{2:2}")
    return out


def _conflicts(model: Model, reached: dict[str, Counterexample]) -> list[UsageConflict]:
    out = []
    for lk in model.locks:
        for state in lk.usage:
            both = reached.get(f"lockdep-usage {lk.name} {state} both")
            if both is None:
                continue
            reg = {tag: _registered(reached, lk.name, tag, model) for tag in (f"IN-{state}-W", f"{state}-ON-W")}
            if any(r is None for r in reg.values()):
                continue
            first = min(reg, key=lambda t: (reg[t][1].length, t))  # type: ignore[index]
            out.append(UsageConflict(lk.name, lk.lock_class or lk.name, state, first, reg, both))  # type: ignore
    return out


def _registered(reached: dict[str, Counterexample], lock: str, tag: str, model: Model | None = None,
                ) -> tuple[str, Counterexample] | None:
    """The action that first registers the usage (as a trace step names it), and the shortest run to the
    state it fires from."""
    prefix = f"lockdep-usage {lock} {tag} @"
    hits = [(cx.length, pid[len(prefix):], cx) for pid, cx in reached.items() if pid.startswith(prefix)]
    if not hits:
        return None
    _n, act, cx = min(hits, key=lambda h: (h[0], h[1]))
    if model is not None:
        a = model.action_named(act)
        act = f"{a.actor}: {act}" + (f"  [{a.kernel}]" if a.kernel else "")
    return act, cx


def _without_redundant(cycles: list[LockCycle], sanctioned) -> list[LockCycle]:
    """One report per problem: cycles whose culprits are the same edges are one problem.

    A cycle's culprits are its design edges that no rule sanctions (an edge the
    documented order allows, like resv -> fs_reclaim, is not a culprit; neither
    is a boot-time one). B4's signalling path taking the reservation lock closes
    a cycle with the exporter's fence wait and another through the primed chain:
    both have that one culprit, so only the cycle of the design's own edges is
    reported. Among cycles with the same culprits, fewer boot-time edges win.
    """
    def culprits(c: LockCycle) -> frozenset:
        return frozenset(e.key for e in c.edges if not e.primed and not sanctioned(e))

    ranked = sorted(cycles, key=lambda c: (sum(e.primed for e in c.edges), len(c.edges)))
    kept: list[LockCycle] = []
    for c in ranked:
        mine = culprits(c)
        if any(e.primed for e in c.edges) and any(mine <= culprits(k) for k in kept if mine):
            continue
        if any(culprits(k) == mine for k in kept):
            continue
        kept.append(c)
    return sorted(kept, key=lambda cy: (len(cy.edges), [e.key for e in cy.edges]))


def _key(e: LockEdge) -> tuple[str, str]:
    return e.src_class, e.dst_class


def primed_edges(model: Model) -> tuple[tuple[str, str], ...]:
    """What dma_resv_lockdep() primes in the model's protocol generation (the full chain from v5.9)."""
    return lockdep_primed(model.params.get("kernel", ""))


def _primed(model: Model) -> list[LockEdge]:
    """The boot-time dependencies of dma_resv_lockdep(), for a model that uses reservation locks."""
    if not any(lk.lock_class == RESV_CLASS for lk in model.locks):
        return []
    boot = Counterexample("primed", {}, [], "primed at boot by dma_resv_lockdep(), RESV-L1")
    out = []
    for a, b in primed_edges(model):
        out.append(LockEdge(a, b, lock_class(model, a), lock_class(model, b), False, False, "dma_resv_lockdep()",
                            "swapper/0", "dma_resv_lockdep()", a == "ww_acquire", boot, primed=True))
    return out


def _decide(cyc: LockCycle, found: list[Counterexample], model: Model, props, bigger, extra: int, limits) -> None:
    """Actual (a deadlock this search reached goes through the cycle) or potential (and what it would take)."""
    mine = [cx for cx in found if _involves(cyc, cx, model)]
    if mine:
        cyc.actual = mine[0]  # the shortest deadlock this configuration reaches through the cycle
    else:
        cyc.potential = _potential(cyc, model, props, bigger, extra, limits)


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
            if e.src_class != e.dst_class or e.src == e.dst:
                continue
            u, v = e.src, e.dst
        if (u, v) not in by_hop or (e.primed, len(e.trace.steps)) < (by_hop[(u, v)].primed, len(by_hop[(u, v)].trace.steps)):
            by_hop[(u, v)] = e
        g.add_edge(u, v)
    out = []
    for nodes in nx.simple_cycles(g):
        hops = list(zip(nodes, nodes[1:] + nodes[:1]))
        edges_of = [by_hop[h] for h in hops]
        if all(e.primed for e in edges_of):
            continue
        out.append(LockCycle(edges_of, level))
        if len(out) >= MAX_CYCLES:
            break
    # report the newest dependency last, as lockdep does when it adds the closing edge (boot-time ones are oldest)
    for cyc in out:
        newest = max(range(len(cyc.edges)),
                     key=lambda i: (not cyc.edges[i].primed, len(cyc.edges[i].trace.steps), i))
        cyc.edges = cyc.edges[newest + 1:] + cyc.edges[:newest + 1]
    return sorted(out, key=lambda cy: (len(cy.edges), [e.key for e in cy.edges]))


def _involves(cyc: LockCycle, deadlock: Counterexample, model: Model) -> bool:
    """Does the deadlock found in this configuration go through a lock of the cycle?"""
    names = {e.src for e in cyc.edges if not e.primed} | {e.dst for e in cyc.edges if not e.primed}
    classes = {e.src_class for e in cyc.edges} | {e.dst_class for e in cyc.edges}
    return _involves_locks(names, classes, deadlock, model)


def _involves_locks(names: set[str], classes: set[str], deadlock: Counterexample, model: Model) -> bool:
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


def _importers(model: Model) -> int:
    return sum(s.size for s in model.index_sets.values() if s.member_label == "importer")


def _potential(cyc: LockCycle, model: Model, props: list[Property], bigger, extra: int, limits) -> str:
    """Say whether a larger configuration reaches the deadlock (within the same limits)."""
    n = _importers(model)
    actors = sorted({e.actor for e in cyc.edges if not e.primed})
    where = f"not reached with {n} importers here" if n or "driver" not in model.params else \
        "no explored interleaving of this program deadlocks"
    base = f"{where}; the cycle needs {', '.join(actors)} to interleave"
    if any(e.primed for e in cyc.edges):
        base += (" with a thread that follows the boot-time order (a shrinker or mmu notifier waiting on a fence, "
                 "a fault taking the reservation lock), which this design does not model")
    if bigger is None or not isinstance(model.params.get("importers"), int) or not props:
        return base
    for m in range(n + 1, n + extra + 1):
        r = Explorer(bigger(m), props).run(stop_at_first=True, limits=limits or Limits(time_limit=60))
        dl = next((v.counterexample for v in r.verdicts if v.status == VIOLATED), None)
        if dl is not None and _involves(cyc, dl, model):
            return f"not reached with {n} importers; reached with {m} importers ({dl.length} steps)"
    return f"{base}; not reached with up to {n + extra} importers either"
