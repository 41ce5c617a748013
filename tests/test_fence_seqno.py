"""dma_fence_is_later: fences ordered by seqno on one context (timeline); across contexts a WARN."""

from __future__ import annotations

import pytest
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError

from tests.test_driver_programs import run


def keep_later(same_context: bool) -> Driver:
    """A scheduler entity keeps the later of its last fence and a new one (entity->last_scheduled)."""
    d = Driver("is-later")
    first = d.fence("first", live=True, owners=("gpu",), context="ring")
    second = d.fence("second", live=True, owners=("submit", "gpu2"), context="ring" if same_context else "other")
    last = d.pointer("entity->last_scheduled", (first, second), init=first)
    d.gpu("gpu", signals=first)
    d.gpu("gpu2", signals=second)
    took = d.field("took_second")

    @d.thread("submit")
    def submit(k):
        cur = k.ptr_load(last, var="cur")
        k.dma_fence_is_later(second, cur, later="newer")
        k.dma_fence_put(second)
        k.ret(0)
        k.label("newer")
        k.set(took, 1)
        old = k.ptr_xchg(last, second)
        k.dma_fence_put(old)

    return d


def test_the_later_fence_of_a_timeline_replaces_the_earlier():
    violated, vacuous, states, m = run(keep_later(True))
    # the only step never taken: 'not later', which needs cur to hold second already (it never does here)
    assert violated == {} and [a.kernel for a in m.actions if a.name in vacuous] == ["dma_fence_put(second)"]
    calls = [a.kernel for a in m.actions if a.actor == "submit"]
    assert "took_second = 1" in calls  # the branch is the seqno order: second (2) is after first (1)


def test_fences_of_different_contexts_are_not_ordered():
    violated, *_ = run(keep_later(False))
    assert violated == {"driver-assert": 2}  # the load, then the comparison WARNs


def test_seqnos_count_up_per_context_and_may_be_given():
    d = Driver("seq")
    a = d.fence("a", context="tl")
    b = d.fence("b", context="tl")
    c = d.fence("c", context="other")
    e = d.fence("e", context="tl", seqno=10)
    assert (a.seqno, b.seqno, c.seqno, e.seqno) == (1, 2, 1, 10)
    with pytest.raises(ModelError, match="seqno is a non-negative number"):
        d.fence("f", seqno=-1)
