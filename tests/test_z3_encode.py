"""The z3 translation means what the compiled model means: same successors, same predicates."""

from __future__ import annotations

import random

import pytest
import z3
from dmabuf_check.checker.z3.candidates import falsified, generate, sample_states
from dmabuf_check.checker.z3.encode import FixedSystem
from dmabuf_check.checker.z3.model_text import SlotNamer, show_expr
from dmabuf_check.model import r1
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.properties.r1 import PROPERTIES


def _fix(system: FixedSystem, state: bytes) -> list[z3.BoolRef]:
    out = []
    for x, b, code in zip(system.cur, system.is_bool, state):
        out.append(x == z3.BoolVal(bool(code)) if b else x == code)
    return out


@pytest.mark.parametrize("kind,variant", [("static", None), ("dynamic", None), ("dynamic", "B2"), ("static", "B6")])
def test_z3_successors_equal_compiled_successors(kind, variant):
    model = r1.build(2, kind, variant)
    system = FixedSystem(model)
    c = system.compiled
    states = sorted(sample_states(c, limit=2_000))
    rng = random.Random(7)
    solver = z3.Solver()
    solver.add(system.trans(system.cur, system.nxt, system.sel))
    for s in rng.sample(states, 25):
        expected = dict(c.successors(s))
        solver.push()
        solver.add(*_fix(system, s))
        found = {}
        for k in range(len(c.instances)):
            solver.push()
            solver.add(system.sel == k)
            if solver.check() == z3.sat:
                found[k] = system.decode(solver.model(), system.nxt)
            solver.pop()
        solver.pop()
        assert found == expected


@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_z3_predicates_equal_compiled_predicates(kind):
    model = r1.build(2, kind, "B3" if kind == "dynamic" else "B1")
    system = FixedSystem(model)
    c = system.compiled
    states = sorted(sample_states(c, limit=3_000))
    for p in PROPERTIES:
        z = system.prop(p, system.cur)
        if p.build is not None:
            py = c.predicate("p_" + p.id.replace("-", "_"), c.condition(p.predicate(model), p.id))
        for s in states[::7]:
            value = z3.simplify(z3.substitute(z, *[(x, v) for x, v in zip(system.cur, _values(system, s))]))
            if p.build is not None:
                assert z3.is_true(value) == py(s), (p.id, model.params, c.layout.decode(s))
            else:  # deadlock freedom: some instance enabled, or a valid end state
                enabled = bool(c.successors(s)) or c.layout.decode(s)["released"] == 1
                assert z3.is_true(value) == enabled


def _values(system: FixedSystem, s: bytes) -> list[z3.ExprRef]:
    return [z3.BoolVal(bool(v)) if b else z3.IntVal(v) for v, b in zip(s, system.is_bool)]


def test_initial_state_and_domains():
    system = FixedSystem(r1.build(3, "dynamic"))
    solver = z3.Solver()
    solver.add(system.init(system.cur))
    assert solver.check() == z3.sat
    assert system.decode(solver.model(), system.cur) == system.compiled.initial
    solver.add(z3.Not(system.type_invariant(system.cur)))
    assert solver.check() == z3.unsat


def test_invariants_render_in_model_vocabulary():
    system = FixedSystem(r1.build(2, "dynamic"))
    names = {n: v for n, (v, _) in zip(system.layout.slot_names, system.layout.slot_vars)}
    namer = SlotNamer(names)
    storage, owner, mapped = z3.Int("storage"), z3.Int("owner"), z3.Bool("map[2]")
    assert namer.show(storage == 1) == "storage = SYS"
    assert namer.show(z3.Or(z3.Not(mapped), storage >= 1)) == "map[2] = 0 ∨ storage ≠ UNALLOC"
    assert namer.show(owner >= 2) == "owner ∈ {importer 1, importer 2}"
    assert namer.show(owner == 3) == "owner = importer 2"
    text = show_expr(PROPERTIES[2].predicate(system.model))
    assert text == "∀i. map[i] = 1 ∧ stale[i] = 0 ⇒ loc[i] = storage"


def test_candidate_filter_removes_only_what_a_reachable_state_violates():
    model = r1.build(2, "static")
    cands, atoms = generate(model, PROPERTIES)
    texts = {c.text for c in cands}
    assert "∀i. map[i] = 1 ⇒ att[i] = 1" in texts and "∀i. map[i] = 1" in texts
    c = Compiled(model)
    dead = falsified(model, cands, atoms, sample_states(c), c)
    assert "∀i. map[i] = 1" in dead  # the initial state has nothing mapped
    assert "∀i. map[i] = 1 ⇒ att[i] = 1" not in dead
    assert "pin-count" not in dead
