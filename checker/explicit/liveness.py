"""Liveness: "p leads to q" under weak fairness, checked on the explicit state graph.

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
    """Checks one "p leads to q" pair on a state graph."""

    def __init__(self, g: StateGraph, p_src: str, q_src: str, fair: set[int], name: str):
        self.g = g
        c = g.c
        self.p = c.predicate(f"live_p_{name}", p_src)
        self.q = c.predicate(f"live_q_{name}", q_src)
        self.fair = fair

    def _fair(self, comp: list[int]) -> bool:
        succ = self.g.succ
        members = set(comp)
        if len(comp) == 1 and not succ[comp[0]]:
            return True  # stutters forever with every action disabled
        if len(comp) == 1 and all(w != comp[0] for _, w in succ[comp[0]]):
            return False  # a single state without a self-loop is no cycle
        fired = {k for v in comp for k, w in succ[v] if w in members}
        for k in self.fair:
            if k in fired:
                continue
            if all(any(kk == k for kk, _ in succ[v]) for v in comp):
                return False  # k is enabled throughout and never taken: unfair
        return True

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
        bad = [comp for comp in _sccs(reach, g.succ) if self._fair(comp)]
        if not bad:
            return None
        comp_of = {v: i for i, comp in enumerate(bad) for v in comp}
        path, entry = self._stem(starts, notq, comp_of)
        return self._cycle(path, entry, bad[comp_of[entry]])

    def _stem(self, starts: set[int], notq: set[int], targets: dict[int, int]) -> tuple[list[int], int]:
        """Shortest path from the initial state through a (p and not q) state, then inside not-q, into a fair component.

        A BFS over (state, phase): phase 0 until a start state is met, phase 1
        after it, where only not-q states may be entered.
        """
        succ = self.g.succ
        first = (0, 1 if 0 in starts else 0)
        prev: dict[tuple[int, int], tuple[int, tuple[int, int]] | None] = {first: None}
        q = deque([first])
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
                nxt = (w, 1 if ph == 1 or w in starts else 0)
                if nxt not in prev:
                    prev[nxt] = (k, node)
                    q.append(nxt)
        raise AssertionError("a fair component is reachable from a start state but no stem leads to it")

    def _cycle(self, path: list[int], entry: int, comp: list[int]) -> tuple[list[int], int]:
        """Close the lasso: from ``entry``, meet every fairness obligation inside ``comp`` and come back."""
        g = self.g
        members = set(comp)
        loop_at = len(path)
        if len(comp) == 1 and not g.succ[entry]:
            return path, loop_at  # stutters in its last state: the loop is that state itself
        cur = entry
        fired_inside = {k for v in comp for k, w in g.succ[v] if w in members}
        for k in sorted(self.fair):
            if k in fired_inside:  # take an edge that fires k
                hops = _bfs([cur], members, g.succ, lambda v, k=k: any(kk == k and w in members for kk, w in g.succ[v]))
                assert hops is not None
                path += [kk for kk, _ in hops]
                cur = hops[-1][1] if hops else cur
                path.append(k)
                cur = next(w for kk, w in g.succ[cur] if kk == k and w in members)
            else:  # visit a state where k is disabled
                hops = _bfs([cur], members, g.succ, lambda v, k=k: all(kk != k for kk, _ in g.succ[v]))
                assert hops is not None
                path += [kk for kk, _ in hops]
                cur = hops[-1][1] if hops else cur
        if cur == entry and len(path) == loop_at:
            # no obligation moved us: go round once through the component
            k, cur = next((k, w) for k, w in g.succ[entry] if w in members)
            path.append(k)
        back = _bfs([cur], members, g.succ, lambda v: v == entry)
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
        fair = {k for k, inst in enumerate(c.instances) if inst.action.name in prop.fairness}
        verdict = Verdict(prop.id, prop.meaning, list(prop.rules), HOLDS)
        assert prop.leads_to is not None
        for n, (p, q) in enumerate(prop.leads_to(model)):
            pair = LeadsTo(g, c.condition(p, prop.id), c.condition(q, prop.id), fair, f"{prop.id}_{n}".replace("-", "_"))
            found = pair.find()
            if found is not None:
                path, loop_at = found
                cex = paths.counterexample(c, prop.id, path)
                cex = Counterexample(cex.property, cex.initial, cex.steps, f"fair under {', '.join(prop.fairness)}",
                                     loop=loop_at)
                verdict = Verdict(prop.id, prop.meaning, list(prop.rules), VIOLATED, cex)
                break
        out.append(verdict)
