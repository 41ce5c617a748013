"""Every type is stored soundly: a range below zero, the widest range, references; explicit = BMC = k-induction.

A refcount that may underflow is the most natural thing a user writes: ``Range(-1, 1)`` used to be
stored as the raw value, so -1 became byte 255, the explicit engine said ``x >= 0`` holds where BMC
and k-induction said it is violated, and rendering the trace failed.
"""

from __future__ import annotations

import pytest
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.checker.result import HOLDS, VIOLATED
from dmabuf_check.checker.z3.bmc import bmc
from dmabuf_check.checker.z3.prove import Options, prove_fixed
from dmabuf_check.model.expr import Param, ite, sum_of
from dmabuf_check.model.lang import Model, assign
from dmabuf_check.model.pycompile import Compiled, DomainError
from dmabuf_check.model.types import BOOL, ModelError, Range, Ref
from dmabuf_check.properties.base import Property


def refcount_model(lo: int = -1) -> tuple[Model, Property]:
    m = Model("refcount")
    refs = m.var("refs", Range(lo, 1), 1, kernel="kref", meaning="references held")
    m.action("put", refs > lo, [assign(refs, refs - 1)], kernel="kref_put")
    return m, Property("no-underflow", "the count never drops below zero", ("LIFE-1",), "test",
                       build=lambda _m: refs >= 0)


def all_engines(m: Model, p: Property) -> list[tuple[str, str, int]]:
    r = explore(m, [p]).verdicts[0]
    b = bmc(m, [p], max_depth=10)[0]
    k = prove_fixed(m, p, Options(engine="kind", timeout=30, depth=10))
    length = lambda v: v.counterexample.length if v.counterexample is not None else -1  # noqa: E731
    return [("explicit", r.status, length(r)), ("bmc", b.status, length(b)), ("kind", k.status, length(k))]


def test_negative_range_underflow_is_found_by_every_engine():
    m, p = refcount_model()
    got = all_engines(m, p)
    assert got == [("explicit", VIOLATED, 2), ("bmc", VIOLATED, 2), ("kind", VIOLATED, 2)]
    cex = explore(m, [p]).verdicts[0].counterexample
    assert [s.state["refs"] for s in cex.steps] == [0, -1]  # shown as the values, never as a byte code
    assert cex.steps[-1].changed == {"refs": -1}


def test_negative_range_stores_codes_from_zero_and_round_trips():
    m, _ = refcount_model(lo=-3)
    c = Compiled(m)
    assert c.initial == bytes([4])  # 1 - (-3)
    states = [c.initial]
    while True:
        nxt = [s for _, s in c.successors(states[-1])]
        if not nxt:
            break
        states.append(nxt[0])
    assert [c.layout.decode(s)["refs"] for s in states] == [1, 0, -1, -2, -3]
    assert [c.layout.encode({"refs": v}) for v in (1, -3)] == [bytes([4]), bytes([0])]
    with pytest.raises(ModelError, match="outside -3..1"):
        c.layout.encode({"refs": -4})


def test_assignment_below_a_negative_range_is_a_domain_error():
    m = Model("below")
    x = m.var("x", Range(-2, 0), 0)
    m.action("dec", x == x, [assign(x, x - 1)])
    with pytest.raises(DomainError, match="outside -2..0"):
        explore(m, [])


def test_constant_negative_assignments_and_reads_in_one_action():
    m = Model("consts")
    x = m.var("x", Range(-5, 5), 0)
    y = m.var("y", Range(-5, 5), 0)
    m.action("set", x == 0, [assign(x, -4), assign(y, x - 1)])  # y reads the new x
    c = Compiled(m)
    ((_, s),) = c.successors(c.initial)
    assert c.layout.decode(s) == {"x": -4, "y": -5}


def test_widest_range_and_signed_arrays_agree_across_engines():
    m = Model("wide")
    idx = m.index_set("procs", 2, "proc")
    w = m.var("w", Range(-127, 128), -127)  # 256 values: the largest a slot holds
    d = m.array("d", idx, Range(-2, 1), 1)
    owner = m.var("owner", Ref(idx, "NONE", "EXP"), "NONE")
    i = Param("i", idx)
    m.action("jump", w < 50, [assign(w, w + 75)])  # -127, -52, 23, 98
    m.action("take", (owner == "NONE") & (d[i] > -2), [assign(owner, i), assign(d[i], d[i] - 1)], params=(i,))
    m.action("drop", owner == i, [assign(owner, ite(d[i] < 0, "EXP", "NONE"))], params=(i,))
    total = sum_of(idx, lambda j: d[j])
    p = Property("sum-above", "the per-proc counts sum above -1", (), "test", build=lambda _m: total >= -1)
    # take(1) drop(1) take(2): d = [0, 0]; the second drop of a negative count hands the owner to EXP
    assert all_engines(m, p) == [("explicit", HOLDS, -1), ("bmc", "unknown", -1), ("kind", "proved", -1)]
    q = Property("w-top", "w never exceeds 98", (), "test", build=lambda _m: w <= 98)
    assert explore(m, [q]).verdicts[0].status == HOLDS
    assert bmc(m, [q], max_depth=12)[0].status != VIOLATED
    assert prove_fixed(m, q, Options(engine="chc", timeout=30)).status == "proved"  # not k-inductive: w = 49 jumps
    q2 = Property("w-below", "w stays below 98", (), "test", build=lambda _m: w < 98)
    assert all_engines(m, q2) == [("explicit", VIOLATED, 3), ("bmc", VIOLATED, 3), ("kind", VIOLATED, 3)]


def test_a_variable_no_engine_can_store_is_refused_at_declaration():
    m = Model("huge")
    with pytest.raises(ModelError, match="variable big has 257 values .* at most 256"):
        m.var("big", Range(0, 256), 0)
    idx = m.index_set("many", 300, "member")
    with pytest.raises(ModelError, match="variable holder has 301 values"):
        m.var("holder", Ref(idx, "NONE"), "NONE")
    m.var("fine", BOOL, 0)
