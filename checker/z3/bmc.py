"""Bounded model checking with z3: the shortest path to a property violation.

The path s0 -T-> s1 -T-> ... is unrolled one step at a time on one
incremental solver; at each depth d every still-open property is asked
``not P(s_d)`` inside push/pop, so the first depth that answers sat is the
length of a shortest counterexample (the same figure breadth-first search
finds). The instance numbers ``sel_0 .. sel_{d-1}`` of the z3 model are the
path; ``checker.paths.counterexample`` replays it through the compiled model,
so a BMC counterexample is the same object, re-checked the same way, as the
explicit engine's.

At each depth BMC also asks whether some reachable state has an enabled
instance that assigns a value outside its variable's domain; the explicit
engine stops with ``DomainError`` there, and so does BMC (the error is raised
by replaying the path through the compiled model).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import z3
from dmabuf_check.checker import paths
from dmabuf_check.checker.z3.encode import FixedSystem, State
from dmabuf_check.checker.z3.proof import UNKNOWN, VIOLATED, Deadline, ProofResult
from dmabuf_check.model.lang import Model
from dmabuf_check.model.pycompile import DomainError
from dmabuf_check.properties.base import Property

WAIT_FOR_PROPERTY = "no-fence-wait-deadlock"


@dataclass
class BmcProgress:
    depth: int
    seconds: float
    open: int  # properties not yet violated


class Unroller:
    """An incremental unrolling of a system from its initial state.

    ``assume`` (over the system's template state) is added for every state:
    only invariants belong there (Houdini lemmas), which exclude no path and
    make the domain queries of static importers (pins + 1 <= N needs the pin
    count) easy instead of a counting argument at every depth.
    """

    def __init__(self, system: FixedSystem, deadline: Deadline, assume: z3.BoolRef | None = None):
        self.system = system
        self.deadline = deadline
        self.assume = assume
        self.solver = z3.Solver()
        self.states: list[State] = [system.state("@0")]
        self.sels: list[z3.ArithRef] = []
        self.solver.add(system.init(self.states[0]))
        if assume is not None:
            self.solver.add(system.at(assume, self.states[0]))

    @property
    def depth(self) -> int:
        return len(self.sels)

    def extend(self) -> None:
        d = self.depth
        nxt = self.system.state(f"@{d + 1}")
        sel = z3.Int(f"sel@{d}")
        self.solver.add(self.system.trans(self.states[d], nxt, sel))
        if self.assume is not None:
            self.solver.add(self.system.at(self.assume, nxt))
        self.states.append(nxt)
        self.sels.append(sel)

    def reach(self, target: z3.BoolRef) -> tuple[z3.CheckSatResult, list[int]]:
        """Is ``target`` (over the last state) reachable in exactly ``depth`` steps? Returns the path if so."""
        self.solver.push()
        try:
            self.solver.add(target)
            self.deadline.arm(self.solver)
            r = self.solver.check()
            path = [self.solver.model().eval(s, model_completion=True).as_long() for s in self.sels] if r == z3.sat else []
            return r, path
        finally:
            self.solver.pop()


def wait_cycle_detail(model: Model, system: FixedSystem, path: list[int]) -> str:
    """The wait-for cycle in the last state of ``path``, as the explicit engine prints it."""
    from dmabuf_check.checker.explicit.search import Explorer

    _, last = paths.replay_instances(system.compiled, path)
    return Explorer(model, [], symmetry=False).wait_cycle(last)


def bmc(
    model: Model,
    properties: Sequence[Property],
    *,
    max_depth: int = 60,
    timeout: float | None = None,
    progress: Callable[[BmcProgress], None] | None = None,
    system: FixedSystem | None = None,
    check_domain: bool = True,
    invariants: z3.BoolRef | None = None,
) -> list[ProofResult]:
    """Shortest counterexamples for ``properties`` up to ``max_depth`` steps.

    A property without a violation up to the depth reached is ``unknown`` (BMC
    proves nothing); a solver timeout ends the run with ``unknown`` for every
    open property. ``invariants`` (proved inductive, see ``Unroller``) are
    assumed in every state.
    """
    t0 = time.perf_counter()
    system = system or FixedSystem(model)
    deadline = Deadline(timeout)
    u = Unroller(system, deadline, invariants)
    results: dict[str, ProofResult] = {}
    open_props = list(properties)
    stop = ""
    depth = 0
    for depth in range(max_depth + 1):
        if depth > 0:
            u.extend()
        for p in list(open_props):
            r, path = u.reach(z3.Not(system.prop(p, u.states[-1])))
            if r == z3.unknown:
                stop = f"z3 returned unknown at depth {depth} ({u.solver.reason_unknown()})"
                break
            if r == z3.sat:
                detail = wait_cycle_detail(model, system, path) if p.id == WAIT_FOR_PROPERTY else ""
                cex = paths.counterexample(system.compiled, p.id, path, detail)
                results[p.id] = ProofResult(p.id, VIOLATED, "bmc", _importers(model),
                                            time.perf_counter() - t0, depth, counterexample=cex)
                open_props.remove(p)
        if not stop and check_domain:
            r, path = u.reach(z3.Not(system.domain_ok(u.states[-1])))
            if r == z3.sat:
                _raise_domain_error(system, path)
            if r == z3.unknown:
                stop = f"z3 returned unknown at depth {depth} ({u.solver.reason_unknown()})"
        if progress:
            progress(BmcProgress(depth, time.perf_counter() - t0, len(open_props)))
        if stop or not open_props:
            break
    seconds = time.perf_counter() - t0
    note = stop or f"no violation up to depth {depth} (BMC alone proves nothing beyond that bound)"
    for p in open_props:
        results[p.id] = ProofResult(p.id, UNKNOWN, "bmc", _importers(model), seconds, depth, note=note)
    return [results[p.id] for p in properties]


def _raise_domain_error(system: FixedSystem, path: list[int]) -> None:
    """Replay ``path``; the compiled model raises the DomainError the explicit engine would."""
    _, last = paths.replay_instances(system.compiled, path)
    system.compiled.successors(last)  # raises DomainError
    raise DomainError(f"z3 found a domain error after {len(path)} steps that the compiled model does not reproduce")


def _importers(model: Model) -> int | None:
    n = model.params.get("importers")
    return n if isinstance(n, int) else None
