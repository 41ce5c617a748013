"""The modeling language: typing, sequential effects, quantifiers, errors."""

import pytest
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.model.expr import Param, count, exists, forall, ite
from dmabuf_check.model.lang import Model, assign, for_each, when
from dmabuf_check.model.pycompile import Compiled, DomainError
from dmabuf_check.model.types import BOOL, Enum, ModelError, Range, Ref
from dmabuf_check.properties.base import Property


def small(n=2):
    m = Model("toy")
    idx = m.index_set("workers", n, "worker")
    phase = m.var("phase", Enum("phase", "A", "B"), "A")
    total = m.var("total", Range(0, 3), 0)
    holder = m.var("holder", Ref(idx, "NOBODY"), "NOBODY")
    busy = m.array("busy", idx, BOOL, 0)
    i = Param("i", idx)
    m.action("start", (busy[i] == 0) & (holder == "NOBODY") & (total < 3), [assign(busy[i], 1), assign(holder, i),
                                                              assign(total, total + 1)], params=(i,), actor="workers")
    k = Param("i", idx)
    m.action("stop", holder == k, [assign(busy[k], 0), assign(holder, "NOBODY")], params=(k,), actor="workers")
    m.action("flip", phase == "A", [assign(phase, "B"), for_each(idx, lambda j: [when(busy[j] == 1, busy[j], 0)])])
    return m, idx, phase, total, holder, busy


def test_sequential_effects_read_earlier_assignments():
    m = Model("seq")
    x = m.var("x", Range(0, 3), 0)
    y = m.var("y", Range(0, 3), 0)
    m.action("inc", x == 0, [assign(x, x + 1), assign(y, x + 1)])  # y reads the new x
    c = Compiled(m)
    (k, s), = c.successors(c.initial)
    assert c.layout.decode(s) == {"x": 1, "y": 2}


def test_quantifiers_and_ite_compile_to_the_right_values():
    m, idx, phase, total, holder, busy = small(3)
    c = Compiled(m)
    s = c.layout.encode({"phase": "A", "total": 2, "holder": "worker 2", "busy": [1, 1, 0]})
    for expr, want in [
        (forall(idx, lambda j: busy[j] == 1), False),
        (exists(idx, lambda j: busy[j] == 1), True),
        (count(idx, lambda j: busy[j] == 1) == 2, True),
        (ite(phase == "A", total, 0) == 2, True),
        (holder == "NOBODY", False),
    ]:
        f = c.predicate(f"p{id(expr)}", c.condition(expr, "test"))
        assert f(s) is want


def test_reference_to_a_member_compares_with_a_parameter():
    m, *_ = small(2)
    c = Compiled(m)
    labels = [c.instances[k].label for k, _ in c.successors(c.initial)]
    assert labels == ["start(1)", "start(2)", "flip"]
    s = c.step(c.initial, c.instance_index("start", (1,)))
    assert c.layout.decode(s)["holder"] == "worker 2"
    assert [c.instances[k].label for k, _ in c.successors(s)] == ["stop(2)", "flip"]


def test_domain_overflow_is_a_model_error_naming_the_action():
    m = Model("overflow")
    x = m.var("x", Range(0, 1), 0)
    m.action("inc", x >= 0, [assign(x, x + 1)])
    with pytest.raises(DomainError, match=r"inc sets x to 2, outside 0..1"):
        explore(m, [])


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda m, x, idx, b: m.action("a", x == "C", []), "'C' is not one of e {A, B}"),
        (lambda m, x, idx, b: m.action("a", x == 1, []), "is not one of e"),
        (lambda m, x, idx, b: m.action("a", b[Param("q", idx)] == 1, []), "parameter q is not bound"),
        (lambda m, x, idx, b: m.action("a", x == "A", [assign(x, 3)]), "3 is not one of e"),
        (lambda m, x, idx, b: m.action("a", x, []), "expected a condition"),
    ],
)
def test_type_errors_name_the_action(build, message):
    m = Model("bad")
    idx = m.index_set("w", 2, "worker")
    x = m.var("x", Enum("e", "A", "B"), "A")
    b = m.array("b", idx, BOOL, 0)
    build(m, x, idx, b)
    with pytest.raises(ModelError, match=message) as e:
        Compiled(m)
    assert "action a" in str(e.value)


def test_declaration_errors():
    m = Model("bad")
    m.var("x", BOOL, 0)
    with pytest.raises(ModelError, match="declared twice"):
        m.var("x", BOOL, 0)
    with pytest.raises(ModelError, match="outside 0..3"):
        m.var("y", Range(0, 3), 7)
    with pytest.raises(ModelError, match="at least one member"):
        m.index_set("none", 0, "x")
    with pytest.raises(TypeError, match="no truth value"):
        bool(m.variable("x").ref() == 1)


def test_explore_a_user_model_with_a_property():
    m, idx, phase, total, holder, busy = small(2)
    at_most_one = Property("at-most-one", "one holder", (), "", build=lambda _m: count(idx, lambda j: busy[j] == 1) <= 1)
    r = explore(m, [at_most_one], symmetry=False)
    assert r.ok
    never_three = Property("total-below-3", "x", (), "", build=lambda _m: total < 3)
    r = explore(m, [never_three], symmetry=True)
    assert r.violated[0].counterexample.length == 5  # start, stop, start, stop, start
