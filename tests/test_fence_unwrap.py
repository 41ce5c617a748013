"""dma_fence_unwrap_for_each: the plain fences inside chains and arrays, and the cursor's reference."""

from __future__ import annotations

from dmabuf_check.model.driver import Driver

from tests.test_driver_programs import run


def unwrap(breaks: bool, puts_on_break: bool = False) -> Driver:
    """A timeline point2 -> point1 whose first point holds an array of two jobs: the walk visits job_c, then
    job_a and job_b through the array. A sync_file merge counts the unsignaled ones; a lookup stops at the
    first unsignaled fence (a break keeps the cursor's reference to the node it is on)."""
    d = Driver("unwrap")
    a = d.fence("job_a", live=True, owners=("gpu_a",))
    b = d.fence("job_b", live=True, owners=("gpu_b",))
    c = d.fence("job_c", live=True, owners=("gpu_c",))
    arr = d.fence_array("arr", (a, b))
    p1 = d.fence_chain("point1", arr)
    p2 = d.fence_chain("point2", c, prev=p1, owners=("walker",))
    for name, f in (("gpu_a", a), ("gpu_b", b), ("gpu_c", c)):
        d.gpu(name, signals=f)
    pending = d.field("pending", max_value=3)
    seen: list[str] = []

    @d.thread("walker", kernel="__dma_fence_unwrap_merge(): count the unsignaled fences")
    def walker(k):
        def body(k, fence):
            seen.append(fence.name)
            k.goto_if(fence.signaled, "next", text="if (dma_fence_is_signaled(tmp)) continue")
            if breaks:
                if puts_on_break:
                    k.dma_fence_put(p2 if fence is c else p1, "dma_fence_put(cursor.chain)")
                k.goto("found", text="break")
            k.inc(pending, "++count")
            k.label("next")

        k.dma_fence_unwrap_for_each(p2, body)
        k.label("found")
        k.dma_fence_put(p2)

    walker.seen = seen  # type: ignore[attr-defined]
    return d


def test_the_walk_visits_every_plain_fence_in_order_and_holds():
    d = unwrap(breaks=False)
    violated, vacuous, states, _m = run(d)
    # nobody waits on the containers, so their signaling machinery (callbacks, irq_work) never runs
    assert violated == {} and states == 5195 and not [a for a in vacuous if a.startswith("walker")]
    seen = next(t.body for t in d.threads if t.name == "walker").seen
    assert seen[:3] == ["job_c", "job_a", "job_b"]


def test_a_break_keeps_the_cursors_reference():
    violated, *_ = run(unwrap(breaks=True))
    # job_c pending: break on point2 with its reference; the leaked node then never signals
    assert violated == {"kref-leak": 3, "fence-signals": 14}


def test_putting_the_node_before_the_break_holds():
    violated, vacuous, states, _m = run(unwrap(breaks=True, puts_on_break=True))
    assert violated == {} and states == 1768 and not [a for a in vacuous if a.startswith("walker")]
