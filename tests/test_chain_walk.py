"""dma_fence_chain_for_each: the iterator's reference to each timeline point, and a break that keeps it."""

from __future__ import annotations

from dmabuf_check.model.driver import Driver

from tests.test_driver_programs import run


def holds(d: Driver) -> int:
    """Every property holds and every action fires but point1's own irq_work: nobody waits on point1 itself,
    so nothing enables its signaling (the CLI lists it as kernel-object code not exercised)."""
    violated, vacuous, states, _m = run(d)
    assert violated == {}
    assert all(a.startswith("point1_work") for a in vacuous), vacuous
    return states


def query(puts_on_break: bool) -> Driver:
    """DRM_IOCTL_SYNCOBJ_QUERY walks a timeline syncobj's points back to the last one whose fence signaled
    and breaks there; the break must drop the iterator's reference (Christian König's "drm/syncobj: fix
    leaking dma_fence in drm_syncobj_query_ioctl", 2019)."""
    d = Driver("chain-walk")
    f1 = d.fence("job1", live=True, owners=("gpu1",))
    f2 = d.fence("job2", live=True, owners=("gpu2",))
    p1 = d.fence_chain("point1", f1)
    p2 = d.fence_chain("point2", f2, prev=p1)
    ptr = d.pointer("syncobj->fence", (p2,), init=p2)
    d.gpu("gpu1", signals=f1)
    d.gpu("gpu2", signals=f2)

    @d.thread("query", kernel="DRM_IOCTL_SYNCOBJ_QUERY")
    def query_ioctl(k):
        k.rcu_read_lock()
        k.dma_fence_get_rcu_safe(ptr, {p2: "got"})
        k.label("got")
        k.rcu_read_unlock()

        inner = {p2: f2, p1: f1}

        def body(k, node):
            k.dma_fence_is_signaled(inner[node], signaled="last",
                                    text=f"dma_fence_is_signaled(to_dma_fence_chain(iter)->fence) ({inner[node].name})")
            k.goto("next")
            k.label("last")
            if puts_on_break:
                k.dma_fence_put(node, "dma_fence_put(iter)")
            k.goto("found", text="point = iter->seqno; break")
            k.label("next")

        k.dma_fence_chain_for_each(p2, body)
        k.label("found")
        k.dma_fence_put(p2, "dma_fence_put(fence)")

    @d.thread("waiter", kernel="DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT on point 2")
    def waiter(k):
        k.rcu_read_lock()
        k.dma_fence_get_rcu_safe(ptr, {p2: "got"})
        k.label("got")
        k.rcu_read_unlock()
        k.dma_fence_wait(p2)
        k.dma_fence_put(p2)

    return d


def test_a_break_out_of_the_walk_keeps_the_iterators_reference():
    violated, *_ = run(query(puts_on_break=False))
    assert violated == {"kref-leak": 7}  # point2's job is done: break there, its reference kept


def test_putting_it_before_the_break_holds():
    assert holds(query(puts_on_break=True)) == 10565


def walk_counting(expected: int) -> Driver:
    d = Driver("chain-walk-all")
    f0 = d.fence("base", live=True, owners=("gpu0",))
    f1 = d.fence("job1", live=True, owners=("gpu1",))
    p1 = d.fence_chain("point1", f1, prev=f0)
    seen = d.field("visited", max_value=3)
    d.gpu("gpu0", signals=f0)
    d.gpu("gpu1", signals=f1)
    timeline = d.pointer("timeline", (p1,), init=p1)

    @d.thread("walker")
    def walker(k):
        k.rcu_read_lock()
        k.dma_fence_get_rcu_safe(timeline, {p1: "got"})
        k.label("got")
        k.rcu_read_unlock()
        k.dma_fence_chain_for_each(p1, lambda k, node: k.inc(seen, text=f"visit {node.name}"))
        k.warn_on(seen.value != expected, f"WARN_ON(visited != {expected})")
        k.dma_fence_put(p1)

    return d


def test_the_walk_visits_every_point_back_to_a_plain_fence():
    assert run(walk_counting(2))[0] == {}  # point1, then its prev: the plain fence base ends the walk
    assert run(walk_counting(1))[0] == {"driver-assert": 9}
