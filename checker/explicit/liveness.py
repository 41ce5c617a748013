"""Liveness: "p leads to q" under weak (and strong) fairness, checked on the explicit state graph.

A violation is a fair lasso: a path to a state where p holds and q does not,
then a cycle on which q never holds and every weakly-fair action either fires
or is disabled somewhere. On the reachable graph this is: restrict to the
states where q is false, keep what is reachable from a (p and not q) state,
and look for a strongly connected component that is fair (for every fair
action instance, an edge of the component fires it or a state of the
component disables it). A state with no successor at all counts as a
component where the system stutters forever with every action disabled.

The graph is stored with its edges, so this runs without symmetry reduction
and is meant for small instances (R1 up to four or five importers).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from dmabuf_check.checker import paths
from dmabuf_check.checker.result import HOLDS, UNKNOWN, VIOLATED, Counterexample, Verdict
from dmabuf_check.model.lang import Model
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.properties.base import LIVENESS, Property


@dataclass
class StateGraph:
    """Reachable states with labelled edges (instance k, successor id) and BFS parents."""

    c: Compiled
    states: list[bytes]
    succ: list[list[tuple[int, int]]]
    parent: list[int]
    via: list[int]
    complete: bool


def build_graph(c: Compiled, max_states: int | None = None, time_limit: float | None = None) -> StateGraph:
    t0 = time.perf_counter()
    states = [c.initial]
    index = {c.initial: 0}
    succ: list[list[tuple[int, int]]] = []
    parent, via = [0], [-1]
    i = 0
    complete = True
    while i < len(states):
        out = []
        for k, n in c.successors(states[i]):
            j = index.get(n)
            if j is None:
                j = index[n] = len(states)
                states.append(n)
                parent.append(i)
                via.append(k)
            out.append((k, j))
        succ.append(out)
        i += 1
        if (max_states and len(states) > max_states) or (time_limit and time.perf_counter() - t0 > time_limit):
            complete = False
            break
    while len(succ) < len(states):  # unexpanded frontier of a cut-short run
        succ.append([])
    return StateGraph(c, states, succ, parent, via, complete)


def _sccs(nodes: set[int], succ: list[list[tuple[int, int]]]) -> list[list[int]]:
    """Strongly connected components of the subgraph on ``nodes`` (iterative Tarjan)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, pos = work[-1]
            edges = succ[v]
            while pos < len(edges) and edges[pos][1] not in nodes:
                pos += 1
            if pos < len(edges):
                work[-1] = (v, pos + 1)
                w = edges[pos][1]
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
    return out


def _bfs(sources: list[int], allowed: set[int], succ, goal) -> list[tuple[int, int]] | None:
    """Shortest path (as (instance, state) hops) inside ``allowed`` from any source to a state where goal(state)."""
    prev: dict[int, tuple[int, int] | None] = {s: None for s in sources}
    q = deque(sources)
    while q:
        v = q.popleft()
        if goal(v):
            hops = []
            while prev[v] is not None:
                k, u = prev[v]  # type: ignore[misc]
                hops.append((k, v))
                v = u
            return hops[::-1]
        for k, w in succ[v]:
            if w in allowed and w not in prev:
                prev[w] = (k, v)
                q.append(w)
    return None


class LeadsTo:
    """Checks one "p leads to q" pair on a state graph, under weak fairness of the instances ``fair`` and
    strong fairness of ``strong`` (enabled infinitely often => taken infinitely often: a mutex waiter the
    kernel hands the lock to, a device that completes what it was given)."""

    def __init__(self, g: StateGraph, p_src: str, q_src: str, fair: set[int], name: str,
                 strong: set[int] | None = None, loop: set[int] | None = None):
        """``loop``: the only instances the repeating part may take (None: any). A design's liveness assumes
        the environment eventually stops starting new calls (a stream of new submissions can starve any
        waiter, and that is not the design's bug), so its loops are made of the system's own steps."""
        self.g = g
        c = g.c
        self.p = c.predicate(f"live_p_{name}", p_src)
        self.q = c.predicate(f"live_q_{name}", q_src)
        self.strong = set(strong or ())
        self.weak = set(fair) - self.strong
        self.fair = self.weak | self.strong  # the obligations a lasso's loop meets
        self.loop_succ = g.succ if loop is None else [[(k, w) for k, w in out if k in loop] for out in g.succ]

    def _fair_parts(self, nodes: set[int]) -> list[list[int]]:
        """The fair strongly connected parts of ``nodes`` (Emerson-Lei refinement for strong fairness: a
        component where a strongly fair instance is enabled but never taken keeps only the states where it
        is disabled, and is searched again)."""
        succ, lsucc = self.g.succ, self.loop_succ
        out: list[list[int]] = []
        todo = [nodes]
        while todo:
            part = todo.pop()
            for comp in _sccs(part, lsucc):
                members = set(comp)
                if len(comp) == 1 and not lsucc[comp[0]]:
                    out.append(comp)  # stutters forever with every action (every action of the loop) disabled
                    continue
                if len(comp) == 1 and all(w != comp[0] for _, w in succ[comp[0]]):
                    continue  # a single state without a self-loop is no cycle
                fired = {k for v in comp for k, w in lsucc[v] if w in members}
                enabled = [{k for k, _ in succ[v]} for v in comp]
                if any(k not in fired and all(k in en for en in enabled) for k in self.weak):
                    continue  # enabled throughout and never taken: no part of it is weakly fair either
                unfair = {v for v, en in zip(comp, enabled) for k in self.strong if k not in fired and k in en}
                if not unfair:
                    out.append(comp)
                elif len(unfair) < len(comp):
                    todo.append(members - unfair)
        return out

    def find(self) -> tuple[list[int], int] | None:
        """A fair lasso violating the pair as (instance path, loop state index), or None if p leads to q."""
        g = self.g
        n = len(g.states)
        notq = {v for v in range(n) if not self.q(g.states[v])}
        starts = {v for v in notq if self.p(g.states[v])}
        if not starts:
            return None
        reach = set(starts)
        todo = list(starts)
        while todo:
            v = todo.pop()
            for _, w in g.succ[v]:
                if w in notq and w not in reach:
                    reach.add(w)
                    todo.append(w)
        bad = self._fair_parts(reach)
        if not bad:
            return None
        comp_of = {v: i for i, comp in enumerate(bad) for v in comp}
        path, entry = self._stem(starts, notq, comp_of)
        return self._cycle(path, entry, bad[comp_of[entry]])

    def _stem(self, starts: set[int], notq: set[int], targets: dict[int, int]) -> tuple[list[int], int]:
        """Shortest path from the initial state through a (p and not q) state, then inside not-q, into a fair component.

        A BFS over (state, phase): phase 0 until a start state is met, phase 1
        after it, where only not-q states may be entered. Phase 0 also goes on
        through start states: a target may lie behind a start state, a q state
        and then another start state.
        """
        succ = self.g.succ
        prev: dict[tuple[int, int], tuple[int, tuple[int, int]] | None] = {(0, 0): None}
        q = deque([(0, 0)])
        if 0 in starts:
            prev[(0, 1)] = None
            q.appendleft((0, 1))
        while q:
            node = q.popleft()
            v, ph = node
            if ph == 1 and v in targets:
                path = []
                while prev[node] is not None:
                    k, node = prev[node]  # type: ignore[misc]
                    path.append(k)
                return path[::-1], v
            for k, w in succ[v]:
                if ph == 1 and w not in notq:
                    continue
                for nxt in ((w, 1),) if ph == 1 else (((w, 1), (w, 0)) if w in starts else ((w, 0),)):
                    if nxt not in prev:
                        prev[nxt] = (k, node)
                        q.append(nxt)
        raise AssertionError("a fair component is reachable from a start state but no stem leads to it")

    def _cycle(self, path: list[int], entry: int, comp: list[int]) -> tuple[list[int], int]:
        """Close the lasso: from ``entry``, meet every fairness obligation inside ``comp`` and come back."""
        g, ls = self.g, self.loop_succ
        members = set(comp)
        loop_at = len(path)
        if len(comp) == 1 and not ls[entry]:
            return path, loop_at  # stutters in its last state: the loop is that state itself
        cur = entry
        fired_inside = {k for v in comp for k, w in ls[v] if w in members}
        for k in sorted(self.fair):
            if k in fired_inside:  # take an edge that fires k
                hops = _bfs([cur], members, ls, lambda v, k=k: any(kk == k and w in members for kk, w in ls[v]))
                assert hops is not None
                path += [kk for kk, _ in hops]
                cur = hops[-1][1] if hops else cur
                path.append(k)
                cur = next(w for kk, w in ls[cur] if kk == k and w in members)
            else:  # visit a state where k is disabled (not enabled at all, whatever the loop may take)
                hops = _bfs([cur], members, ls, lambda v, k=k: all(kk != k for kk, _ in g.succ[v]))
                assert hops is not None
                path += [kk for kk, _ in hops]
                cur = hops[-1][1] if hops else cur
        if cur == entry and len(path) == loop_at:
            # no obligation moved us: go round once through the component
            k, cur = next((k, w) for k, w in ls[entry] if w in members)
            path.append(k)
        back = _bfs([cur], members, ls, lambda v: v == entry)
        assert back is not None
        path += [k for k, _ in back]
        return path, loop_at


class LivenessInterruptedError(Exception):
    """Ctrl-C during the liveness search: the verdicts decided so far, the rest unknown."""

    def __init__(self, verdicts: list[Verdict]):
        super().__init__("interrupted")
        self.verdicts = verdicts


def check_liveness(model: Model, props: list[Property], c: Compiled | None = None,
                   max_states: int | None = None, time_limit: float | None = None) -> list[Verdict]:
    """Verdicts for the liveness properties in ``props`` (others are ignored); on Ctrl-C raises
    ``LivenessInterruptedError`` with the verdicts decided so far."""
    live = [p for p in props if p.kind == LIVENESS]
    if not live:
        return []
    out: list[Verdict] = []
    try:
        _decide(model, live, c, max_states, time_limit, out)
    except KeyboardInterrupt:
        done = {v.property for v in out}
        raise LivenessInterruptedError(out + [Verdict(p.id, p.meaning, list(p.rules), UNKNOWN, note="interrupted by the user")
                                         for p in live if p.id not in done]) from None
    return out


def _decide(model: Model, live: list[Property], c: Compiled | None, max_states: int | None,
            time_limit: float | None, out: list[Verdict]) -> None:
    c = c or Compiled(model)
    g = build_graph(c, max_states, time_limit)
    for prop in live:
        if not g.complete:
            out.append(Verdict(prop.id, prop.meaning, list(prop.rules), UNKNOWN,
                               note="state graph cut short by a limit"))
            continue
        fair = c.instances_of(prop.fairness)
        strong_names = prop.strongly_fair(model)
        strong = c.instances_of(strong_names)
        loop_names = prop.loop_of(model)
        loop = None if loop_names is None else c.instances_of(loop_names)
        verdict = Verdict(prop.id, prop.meaning, list(prop.rules), HOLDS)
        assert prop.leads_to is not None
        for n, (p, q) in enumerate(prop.leads_to(model)):
            pair = LeadsTo(g, c.condition(p, prop.id), c.condition(q, prop.id), fair,
                           f"{prop.id}_{n}".replace("-", "_"), strong, loop)
            found = pair.find()
            if found is not None:
                path, loop_at = found
                cex = paths.counterexample(c, prop.id, path)
                how = f"fair under {', '.join(prop.fairness)}" if prop.fairness else ""
                if strong_names:
                    how += ("; " if how else "") + "strongly fair to the devices and every started call"
                if loop is not None:
                    how += "; no new call starts in the loop"
                cex = Counterexample(cex.property, cex.initial, cex.steps, how, loop=loop_at)
                verdict = Verdict(prop.id, prop.meaning, list(prop.rules), VIOLATED, cex)
                break
        out.append(verdict)
