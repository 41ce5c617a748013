"""Wait-for deadlocks with z3: is a state containing a candidate cycle reachable?

``properties.waitfor`` enumerates the simple cycles of the model's static
wait-for graph (every edge some state could have). For each cycle, the
conjunction of its edge conditions is a state predicate; this module asks

- BMC for a shortest path to a state where all of them hold: the deadlock,
  as a replayed counterexample whose detail names the cycle;
- otherwise k-induction or Spacer for a proof that no reachable state has
  the cycle, with a re-checked certificate;
- otherwise it says the question stays open.

A model whose static graph has no cycle cannot deadlock this way in any
state; that is reported as such, with nothing to solve.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dmabuf_check.checker.result import Counterexample
from dmabuf_check.checker.z3.bmc import bmc
from dmabuf_check.checker.z3.proof import PROVED, UNKNOWN, VIOLATED, Certificate, ProofResult
from dmabuf_check.checker.z3.prove import Options, prove_fixed
from dmabuf_check.model.expr import Expr, conj
from dmabuf_check.model.lang import Model
from dmabuf_check.properties import waitfor
from dmabuf_check.properties.base import Property


@dataclass
class CycleVerdict:
    """One candidate cycle: reachable (with a trace), unreachable (with a certificate), or open."""

    cycle: str
    status: str  # VIOLATED: reachable; PROVED: unreachable; UNKNOWN
    seconds: float
    counterexample: Counterexample | None = None
    certificate: Certificate | None = None
    note: str = ""


def cycle_text(cycle: list[waitfor.Edge]) -> str:
    """'exporter -> fence 1 -> lock resv -> exporter': starting at an actor, as the explicit engine prints it."""
    actors = {e.dst for e in cycle if e.src.startswith("lock ")}  # lock -> holder edges end at actors
    start = min(range(len(cycle)), key=lambda k: (cycle[k].src not in actors, cycle[k].src))
    ordered = cycle[start:] + cycle[:start]
    return " -> ".join([e.src for e in ordered] + [ordered[0].src])


def cycle_property(cycle: list[waitfor.Edge]) -> Property:
    """'This cycle never appears', as a property of the model the edges were built from."""
    present: Expr = conj(*(e.cond for e in cycle))
    text = cycle_text(cycle)
    return Property(f"no-wait-cycle[{text}]", f"the wait-for cycle {text} never appears", ("DL-1",),
                    "properties/waitfor.py", build=lambda m: ~present)


def deadlock_reachability(model: Model, *, engine: str = "chc", depth: int = 40, timeout: float | None = 120.0,
                          properties: tuple[Property, ...] = ()) -> tuple[list[CycleVerdict], str]:
    """A verdict per candidate wait-for cycle of ``model``, and a one-line summary."""
    cycles = waitfor.candidate_cycles(model)
    if not cycles:
        return [], "the static wait-for graph has no cycle: no state of this model can have a wait-for deadlock"
    out: list[CycleVerdict] = []
    for cyc in cycles:
        t0 = time.perf_counter()
        prop = cycle_property(cyc)
        text = cycle_text(cyc)
        found: ProofResult = bmc(model, [prop], max_depth=depth, timeout=timeout)[0]
        if found.status == VIOLATED and found.counterexample is not None:
            found.counterexample.detail = text
            out.append(CycleVerdict(text, VIOLATED, time.perf_counter() - t0, found.counterexample,
                                    note=f"reachable in {found.counterexample.length} steps"))
            continue
        proof = prove_fixed(model, prop, Options(engine=engine, depth=depth, timeout=timeout,
                                                 properties=properties))
        status = PROVED if proof.status == PROVED else UNKNOWN
        note = "unreachable (proved)" if status == PROVED else f"open: {found.note}; {proof.note}"
        out.append(CycleVerdict(text, status, time.perf_counter() - t0, certificate=proof.certificate, note=note))
    reach = sum(v.status == VIOLATED for v in out)
    proved = sum(v.status == PROVED for v in out)
    summary = (f"{len(cycles)} candidate wait-for cycle{'s' if len(cycles) != 1 else ''}: "
               f"{reach} reachable, {proved} proved unreachable, {len(cycles) - reach - proved} open")
    return out, summary
