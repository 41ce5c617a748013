"""Rebuild the model a trace names and judge its states: the shared core of replay, shrink and explain.

A trace is checked against the model, never against itself: the model is
rebuilt from ``dmabuf_check.registry`` with the recorded parameters, compiled
with ``model.pycompile.Compiled``, and every question ("is this step enabled",
"does this state violate the property", "which wait-for cycle is there") is
answered by the compiled model.

Liveness properties ("p leads to q" under weak fairness, ``Property.leads_to``
and ``Property.fairness``) are judged on lassos: the loop must close (or the
trace must end in a state with no enabled action, where it stutters), be fair
to every instance of the fair actions, and keep some pair's q false forever
after a state where p held.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from dmabuf_check.checker.paths import replay_instances
from dmabuf_check.checker.result import Counterexample, Step
from dmabuf_check.model.expr import MemberConst, subst
from dmabuf_check.model.lang import Action, Model
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties import waitfor
from dmabuf_check.properties.base import DEADLOCK, LIVENESS, Property
from dmabuf_check.traces.format import (
    PropertyRef,
    Trace,
    TraceStep,
    UnknownActionError,
    UnknownModelError,
    UnknownPropertyError,
)

from dmabuf_check.registry import entry


def format_call(action: Action, params: Sequence[int]) -> str:
    """The action's call template with its member filled in: att{i} -> att2 for importer 2."""
    text = action.call or action.kernel or action.name
    if params:
        text = text.replace("{i}", str(params[0]))
    return text


def build_model(name: str, params: dict[str, object]) -> Model:
    """The model instance a trace names, rebuilt from the registry."""
    try:
        e = entry(name)
    except ModelError as err:
        if "file" in params:  # recorded from a user's design file: only the user may load it
            raise UnknownModelError(f"the trace was recorded from the design file {params['file']}: pass "
                                    f"--model-file {params['file']} to load it (a trace never runs a file by itself)") from None
        raise UnknownModelError(f"trace names {err}") from None
    try:
        return e.build(**params)
    except TypeError as err:
        raise UnknownModelError(f"trace parameters {params} do not fit model {name}: {err}") from None
    except ModelError as err:
        raise UnknownModelError(f"trace parameters {params} do not fit model {name}: {err}") from None


def model_source(model: Model) -> str:
    """The file the model is defined in, relative to the repository when it lives in it."""
    if not model.source:
        return model.name
    src = Path(model.source).resolve()
    root = Path(__file__).resolve().parent.parent
    try:
        return src.relative_to(root).as_posix()
    except ValueError:
        return src.as_posix()


def property_ref(p: Property) -> PropertyRef:
    return PropertyRef(p.id, p.meaning, list(p.rules), p.source, p.kind)


def find_property(model_name: str, prop_id: str) -> Property:
    """The catalog property with this id (safety or liveness)."""
    catalog = entry(model_name).properties
    for p in catalog:
        if p.id == prop_id:
            return p
    raise UnknownPropertyError(f"model {model_name} has no property {prop_id!r}; known: "
                               f"{', '.join(p.id for p in catalog)}")


class Judge:
    """A compiled model instance plus one property: enabledness, violation and wait-for cycles."""

    def __init__(self, model: Model, prop: Property):
        self.model = model
        self.prop = prop
        self.c = Compiled(model)
        self.kind = prop.kind
        # keyed by id(expr), holding the expr itself so its id cannot be reused by a new object
        self._cache: dict[int, tuple[object, Callable[[bytes], bool]]] = {}
        self._edges: list | None = None
        self._waiting: dict[int, tuple[object, Callable[[bytes], bool]]] = {}
        self._violates: Callable[[bytes], bool]
        if self.kind == DEADLOCK:
            end = self.predicate(model.valid_end) if model.valid_end is not None else (lambda s: False)
            self._violates = lambda s: not self.c.successors(s) and not end(s)
        elif self.kind == LIVENESS:
            self._violates = lambda s: False  # a liveness property is judged on a lasso, not a state
            assert prop.leads_to is not None
            self.pairs = [(self.predicate(p, prop.id), self.predicate(q, prop.id)) for p, q in prop.leads_to(model)]
            self.strong = self.c.instances_of(prop.strongly_fair(model))
            self.fair = sorted(self.c.instances_of(prop.fairness) | self.strong)
            loop_names = prop.loop_of(model)
            self.loop = None if loop_names is None else self.c.instances_of(loop_names)
        else:
            holds = self.predicate(prop.predicate(model), f"property {prop.id}")
            self._violates = lambda s: not holds(s)

    @classmethod
    def for_trace(cls, trace: Trace) -> Judge:
        model = build_model(trace.model, trace.params)
        return cls(model, find_property(trace.model, trace.property.id))

    def predicate(self, e, where: str = "condition") -> Callable[[bytes], bool]:
        """Compile a condition once per expression object."""
        key = id(e)
        if key not in self._cache:
            self._cache[key] = (e, self.c.predicate(f"tp_{len(self.c._fns)}", self.c.condition(e, where)))
        return self._cache[key][1]

    # ---- steps --------------------------------------------------------------
    def instance(self, action: str, params: Sequence[int]) -> int:
        """The compiled instance index of ``action(params)``; UnknownActionError if there is none."""
        try:
            act = self.model.action_named(action)
        except ModelError as err:
            raise UnknownActionError(str(err)) from None
        if len(params) != len(act.params):
            raise UnknownActionError(f"action {action} takes {len(act.params)} member(s), "
                                     f"the trace gives {list(params)}")
        for p, m in zip(act.params, params):
            if not 1 <= m <= p.index.size:
                raise UnknownActionError(f"{action}({', '.join(map(str, params))}): there is no "
                                         f"{p.index.member_label} {m} (the model has {p.index.size})")
        return self.c.instance_index(action, tuple(m - 1 for m in params))

    def violates(self, s: bytes) -> bool:
        return self._violates(s)

    # ---- wait-for graph --------------------------------------------------------
    def wait_graph(self, s: bytes):  # -> networkx.DiGraph; networkx is imported only when a graph is needed
        """The wait-for graph of ``s`` (the potential edges are built and compiled once per Judge)."""
        import networkx as nx

        if self._edges is None:
            self._edges = waitfor.edges(self.model)
        g = nx.DiGraph()
        for e in self._edges:
            if self.predicate(e.cond, "wait-for edge")(s):
                g.add_edge(e.src, e.dst, why=e.why)
        return g

    def node(self, name: str) -> tuple[str, object, int | None]:
        """What a wait-for node stands for: ("fence", FenceSet, member 1-based or None), ("lock", Lock, None)
        or ("actor", name, None)."""
        for fs in self.model.fences:
            if fs.index is None and name == fs.name:
                return "fence", fs, None
            tail = name[len(fs.name) + 1:]
            if fs.index is not None and name.startswith(fs.name + " ") and tail.isdigit():
                return "fence", fs, int(tail)
        for lk in self.model.locks:
            if name == f"lock {lk.name}":
                return "lock", lk, None
        return "actor", name, None

    def signal_instance(self, fs, member: int | None) -> int:
        """The compiled instance that signals fence ``member`` (1-based; None for a global fence) of ``fs``."""
        sig = self.model.action_named(fs.signal)
        return self.c.instance_index(sig.name, (member - 1,) if sig.params and member is not None else ())

    def wait_cycle(self, s: bytes) -> list[tuple[str, str, str]]:
        """The wait-for cycle of ``s`` as (waiter, waited-on, why) hops; empty when there is none."""
        import networkx as nx  # lazily: start-up time of commands that never draw a graph

        g = self.wait_graph(s)
        try:
            cyc = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            return []
        return [(u, v, g.edges[u, v]["why"]) for u, v in cyc]

    # ---- lassos -----------------------------------------------------------------
    def lasso_problems(self, states: list[bytes], instances: list[int], loop: int) -> list[str]:
        """Why a lasso is not a counterexample to this liveness property (empty when it is one).

        ``states[0..n]`` are the states, ``instances[k]`` leads from state k to
        k+1, and the cycle is states[loop..n] with states[n] == states[loop];
        loop == n means the run stutters in its last state, which is only a
        behaviour when no action at all is enabled there.
        """
        n = len(states) - 1
        if states[-1] != states[loop]:
            return [f"the loop does not close: the last state differs from state {loop}"]
        cycle = self.cycle(states, loop)
        allowed = self.loop  # a design's loop: the system's own steps only (None: any step)
        if loop == n and any(allowed is None or k in allowed for k, _ in self.c.successors(states[-1])):
            return ["the trace ends in a state where actions are still enabled, so it cannot stutter there forever"]
        problems = []
        fired = set(instances[loop:])
        if allowed is not None and fired - allowed:
            k = min(fired - allowed)
            problems.append(f"the loop starts a new call ({self.c.instances[k].label}); the property assumes "
                            "that eventually no new call starts")
        for k in self.fair:  # weak fairness: fired on the loop, or disabled somewhere on it
            if k in fired:
                continue
            if k in self.strong:  # strong fairness: fired on the loop, or disabled all along it
                if any(self.c.step(s, k) is not None for s in cycle):
                    problems.append(f"unfair loop: {self.c.instances[k].label} is enabled on the loop but never "
                                    "taken (strong fairness forces it)")
            elif all(self.c.step(s, k) is not None for s in cycle):
                problems.append(f"unfair loop: {self.c.instances[k].label} is enabled throughout the loop "
                                "but never taken (weak fairness forces it)")
        if self.violated_pair(states, loop) is None:
            problems.append(f"no state where {self.prop.id}'s condition starts is followed by a run that "
                            "never reaches its goal")
        return problems

    def cycle(self, states: list[bytes], loop: int) -> list[bytes]:
        """The states the run repeats forever (the last state alone when it stutters)."""
        return states[loop:-1] if loop < len(states) - 1 else [states[-1]]

    def violated_pair(self, states: list[bytes], loop: int) -> tuple[int, int] | None:
        """(pair, state index) of the first "p leads to q" pair the lasso violates, and where p starts waiting."""
        cycle = self.cycle(states, loop)
        for k, (p, q) in enumerate(self.pairs):
            if any(q(s) for s in cycle):
                continue
            start = None
            for i in range(len(states) - 1, -1, -1):  # the earliest i with q false from i to the end
                if q(states[i]):
                    break
                if p(states[i]):
                    start = i
            if start is not None:
                return k, start
        return None

    def starved_fences(self, cycle: list[bytes], taken: set) -> list[tuple[str, int | None]]:
        """(fence set, member) of each fence pending in every loop state and never signalled in the loop."""
        out = []
        for fs in self.model.fences:
            if not fs.signal:
                continue  # a waitable no action signals (an rwsem's holders): it starves no fence
            members = [None] if fs.index is None else [j + 1 for j in fs.index.members()]
            for j in members:
                arg = None if j is None else MemberConst(fs.index, j - 1)  # type: ignore[arg-type]
                pending = self.predicate(fs.pending(arg), "fence pending")
                k = self.signal_instance(fs, j)
                if all(pending(s) for s in cycle) and self.c.instances[k] not in taken:
                    out.append((fs.name, j))
        return out

    def endless_waits(self, cycle: list[bytes], taken: set) -> list[tuple[str, list[int]]]:
        """(action, members) of each waiting action instance whose wait holds on the whole loop and never fires."""
        out = []
        for k, inst in enumerate(self.c.instances):
            src = self.model.action_named(inst.action.name)
            if src.waits is None:
                continue
            env = {p: MemberConst(p.index, m) for p, m in zip(src.params, inst.binding)}
            waiting = self._waiting.get(k)
            if waiting is None:
                when = subst(src.waits.when, env)
                waiting = self._waiting[k] = (when, self.predicate(when, "wait condition"))
            if all(waiting[1](s) for s in cycle) and inst not in taken:
                out.append((src.name, [m + 1 for m in inst.binding]))
        return out


# ---- building traces ------------------------------------------------------------


def trace_step(model: Model, step: Step) -> TraceStep:
    act = model.action_named(step.action)
    return TraceStep(step.action, list(step.params), step.actor, step.kernel, format_call(act, step.params),
                     dict(step.state), dict(step.changed))


def from_counterexample(
    cex: Counterexample,
    model: Model,
    *,
    engine: str = "",
    loop: int | None = None,
    properties: Sequence[Property] | None = None,
) -> Trace:
    """A trace of a checker counterexample of ``model`` (a registry model, or pass its ``properties``).

    A liveness counterexample carries its own loop index; ``loop`` overrides it.
    """
    catalog = list(properties) if properties is not None else list(entry(model.name).properties)
    found = next((p for p in catalog if p.id == cex.property), None)
    prop = property_ref(found) if found is not None else PropertyRef(cex.property)
    if loop is None:
        loop = getattr(cex, "loop", None)
    return Trace(model=model.name, params=dict(model.params), property=prop, initial=dict(cex.initial),
                 steps=[trace_step(model, s) for s in cex.steps], loop=loop, engine=engine, detail=cex.detail)


def from_instances(judge: Judge, instances: list[int], *, loop: int | None, like: Trace, note: str = "") -> Trace:
    """A trace along compiled instances of ``judge``'s model, with the metadata of ``like``."""
    steps, last = replay_instances(judge.c, instances)
    detail = ""
    if judge.prop.id == "no-fence-wait-deadlock":
        cyc = judge.wait_cycle(last)
        detail = " -> ".join([u for u, _, _ in cyc] + [cyc[0][0]]) if cyc else ""
    return Trace(model=like.model, params=dict(judge.model.params), property=like.property,
                 initial=judge.c.layout.decode(judge.c.initial), steps=[trace_step(judge.model, s) for s in steps],
                 loop=loop, engine=like.engine, detail=detail or (like.detail if loop is not None else ""),
                 note=note or like.note)


def encode_states(judge: Judge, trace: Trace) -> list[bytes]:
    """The recorded states of a trace in the model's encoding (raises ModelError on a bad value)."""
    return [judge.c.layout.encode(s) for s in trace.states()]


__all__ = ["Judge", "LIVENESS", "build_model", "find_property", "format_call",
           "from_counterexample", "from_instances", "property_ref"]
