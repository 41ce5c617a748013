"""The every-N encoding, pinned to one N, allows exactly (N=2) or at least (N=3) the compiled model's steps."""

from __future__ import annotations

import random

import pytest
import z3
from dmabuf_check.checker.z3.candidates import sample_states
from dmabuf_check.checker.z3.param import ParamSystem
from dmabuf_check.model import r1
from dmabuf_check.model.pycompile import Compiled


def _pin(system: ParamSystem, view, c: Compiled, state: bytes, n: int) -> list[z3.BoolRef]:
    """Constraints making ``view`` the concrete ``state`` of the instance with n members."""
    out = [system.N == n]
    for (v, m), code in zip(c.layout.slot_vars, state):
        decl = system.model.variable(v.name)
        term = view.terms[decl]
        out.append((z3.Select(term, m) if m is not None else term) == code)
    return out


def _post_values(system: ParamSystem, post, model: z3.ModelRef, c: Compiled) -> bytes:
    vals = []
    for v, m in c.layout.slot_vars:
        term = post.terms[system.model.variable(v.name)]
        vals.append(model.eval(z3.Select(term, m) if m is not None else term, model_completion=True).as_long())
    return bytes(vals)


@pytest.mark.parametrize("kind,n,exact", [("static", 2, True), ("dynamic", 2, True), ("dynamic", 3, False)])
def test_param_steps_match_compiled_steps(kind, n, exact):
    system = ParamSystem(lambda k: r1.build(k, kind))
    c = Compiled(r1.build(n, kind))
    states = sorted(sample_states(c, limit=3_000))
    rng = random.Random(3)
    s = system.state("")
    steps = {act.name: system.action_step(act, s, "") for act in system.actions}
    facts = system.take_facts()
    solver = z3.Solver()
    solver.add(*facts)
    for state in rng.sample(states, 15):
        solver.push()
        solver.add(*_pin(system, s, c, state, n))
        for k, inst in enumerate(c.instances):
            enabled, post, members = steps[inst.action.name]
            expected = c.step(state, k)
            solver.push()
            solver.add(*[x == b for x, b in zip(members, inst.binding)], enabled)
            if expected is not None:  # every concrete step is allowed, with its own successor
                solver.add(*_pin(system, post, c, expected, n))
                assert solver.check() == z3.sat, (inst.label, c.layout.decode(state))
            elif exact:
                assert solver.check() == z3.unsat, (inst.label, c.layout.decode(state))
            solver.pop()
            if exact and expected is not None:  # and no other successor
                solver.push()
                solver.add(*[x == b for x, b in zip(members, inst.binding)], enabled)
                assert solver.check() == z3.sat
                assert _post_values(system, post, solver.model(), c) == expected
                solver.add(z3.Not(z3.And(*_pin(system, post, c, expected, n))))
                assert solver.check() == z3.unsat
                solver.pop()
        solver.pop()
