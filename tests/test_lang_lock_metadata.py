"""Language extension: lock metadata on actions, waits on a lock, a single global fence."""

import pytest
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.checker.result import VIOLATED
from dmabuf_check.model.expr import Param
from dmabuf_check.model.lang import Model, Waits, assign
from dmabuf_check.model.types import BOOL, Enum, ModelError, Ref
from dmabuf_check.properties import waitfor
from dmabuf_check.properties.base import Property

NO_CYCLE = Property("no-fence-wait-deadlock", "no wait-for cycle", ("DL-1",), "test", build=waitfor.no_cycle)


def abba(ordered: bool) -> Model:
    """Two workers take locks A and B in two steps; unordered, one takes B first (ABBA)."""
    m = Model("abba")
    w = m.index_set("workers", 2, "worker")
    a = m.var("a", Ref(w, "FREE"), "FREE")
    b = m.var("b", Ref(w, "FREE"), "FREE")
    pc = m.array("pc", w, Enum("pc", "IDLE", "HAS_A", "HAS_B"), "IDLE")
    flip = m.array("flip", w, BOOL, 0)
    lock_a = m.lock("A", a, "FREE", {})
    lock_b = m.lock("B", b, "FREE", {})
    i = Param("i", w)
    m.action("first_a", (pc[i] == "IDLE") & (a == "FREE") & (flip[i] == 0), [assign(a, i), assign(pc[i], "HAS_A")],
             params=(i,), actor="workers", acquires=("A",))
    i = Param("i", w)
    m.action("then_b", (pc[i] == "HAS_A") & (b == "FREE"), [assign(b, i), assign(pc[i], "IDLE"), assign(a, "FREE"),
                                                          assign(b, "FREE")],
             params=(i,), actor="workers", acquires=("B",), holds=("A",), waits=Waits(lock_b, pc[i] == "HAS_A"))
    i = Param("i", w)
    m.action("first_b", (pc[i] == "IDLE") & (b == "FREE") & (flip[i] == 1), [assign(b, i), assign(pc[i], "HAS_B")],
             params=(i,), actor="workers", acquires=("B",))
    i = Param("i", w)
    m.action("then_a", (pc[i] == "HAS_B") & (a == "FREE"), [assign(a, i), assign(pc[i], "IDLE"), assign(a, "FREE"),
                                                          assign(b, "FREE")],
             params=(i,), actor="workers", acquires=("A",), holds=("B",), waits=Waits(lock_a, pc[i] == "HAS_B"))
    if not ordered:
        i = Param("i", w)
        m.action("choose_b_first", (pc[i] == "IDLE") & (flip[i] == 0), [assign(flip[i], 1)], params=(i,),
                 actor="workers")
    m.valid_end = m.var("never", BOOL, 0) == 1
    return m


def test_metadata_defaults_and_values():
    m = abba(True)
    assert m.action_named("first_a").acquires == ("A",) and m.action_named("first_a").holds == ()
    assert m.action_named("then_b").holds == ("A",)


def test_metadata_must_be_tuples_of_names():
    m = Model("bad")
    with pytest.raises(ModelError, match="acquires must be a tuple of lock names"):
        m.action("x", True, [], acquires="resv")
    with pytest.raises(ModelError, match="holds must be a tuple of lock names"):
        m.action("y", True, [], holds=("resv", ""))


def test_wait_on_a_lock_finds_abba_cycle():
    r = explore(abba(False), [NO_CYCLE])
    v = r.verdict("no-fence-wait-deadlock")
    assert v.status == VIOLATED
    assert "lock A" in v.counterexample.detail and "lock B" in v.counterexample.detail


def test_ordered_locks_have_no_cycle():
    assert explore(abba(True), [NO_CYCLE]).verdict("no-fence-wait-deadlock").status == "holds"


def test_global_fence_waits_and_signal_lock_edges():
    """A single (index None) fence: the waiter holds the lock its signal needs."""
    m = Model("global-fence")
    w = m.index_set("workers", 1, "worker")
    owner = m.var("owner", Ref(w, "FREE", "EXP"), "FREE")
    fence = m.var("fence", BOOL, 0)
    phase = m.var("phase", Enum("phase", "IDLE", "WAIT"), "IDLE")
    m.lock("L", owner, "FREE", {"EXP": "exporter"})
    fs = m.fence_set("ef", None, lambda _: fence == 1, signal="sig")
    m.action("emit", fence == 0, [assign(fence, 1)])
    m.action("lock_and_wait", (owner == "FREE") & (phase == "IDLE"), [assign(owner, "EXP"), assign(phase, "WAIT")])
    m.action("done", (phase == "WAIT") & (fence == 0), [assign(phase, "IDLE"), assign(owner, "FREE")],
             waits=Waits(fs, phase == "WAIT"))
    m.action("sig", (fence == 1) & (owner == "FREE"), [assign(fence, 0)], actor="signaller", signals=fs)
    names = {(e.src, e.dst) for e in waitfor.edges(m)}
    assert ("exporter", "ef") in names and ("ef", "lock L") in names
    v = explore(m, [NO_CYCLE]).verdict("no-fence-wait-deadlock")
    assert v.status == VIOLATED and v.counterexample.detail == "exporter -> ef -> lock L -> exporter"
