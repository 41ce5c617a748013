"""Driver programs, found by writing real kernel bugs as a new user would: each mechanism here closes a
gap such a bug hit (a miss, a false alarm or a wrong explanation), with a buggy and a fixed program."""

from __future__ import annotations

from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.model.driver import Driver
from dmabuf_check.properties.base import LIVENESS
from dmabuf_check.properties.kernel_objects import for_driver


def run(d: Driver, kernel: str | None = None):
    m, info = d.build(kernel)
    props = [p for p in for_driver(m, info) if p.kind != LIVENESS]
    r = explore(m, props, symmetry=False, stop_at_first=False)
    assert r.complete
    violated = {v.property: v.counterexample.length for v in r.violated}
    vacuous = [a for a in r.vacuous if a not in info.release_steps]
    return violated, vacuous, r, m





# ---- DL-1 through a fence: waiter -> fence -> its only signaller -> lock -> holder --------------------

def fence_under_lock(bug: bool, second_signaller: bool = False) -> Driver:
    """The textbook fence deadlock: a thread waits on a fence holding the lock its signaller needs."""
    d = Driver("fence-under-lock")
    lk = d.mutex("A")
    f = d.fence("f", live=True, owners=(d.holder("h"),))

    @d.thread("waiter")
    def waiter(k):
        k.mutex_lock(lk)
        if bug:
            k.dma_fence_wait(f)
            k.mutex_unlock(lk)
        else:
            k.mutex_unlock(lk)
            k.dma_fence_wait(f)

    @d.thread("signaller")
    def signaller(k):
        k.mutex_lock(lk)
        k.mutex_unlock(lk)
        k.dma_fence_signal(f)

    if second_signaller:
        @d.irq("timeout")
        def timeout(k):  # another context that can signal the fence as well: the wait can end without A
            k.dma_fence_signal(f)

    return d


def test_a_fence_wait_under_the_signallers_lock_is_a_wait_for_cycle():
    violated, _vacuous, _r, _m = run(fence_under_lock(True))
    assert violated == {"no-fence-wait-deadlock": 1, "no-stuck-state": 1}


def test_the_fixed_fence_wait_holds_with_no_vacuous_action():
    violated, vacuous, _r, _m = run(fence_under_lock(False))
    assert violated == {} and vacuous == []


def test_a_fence_another_context_can_still_signal_is_no_cycle():
    # the waiter is not stuck while the IRQ can still signal: no wait-for cycle until it ran without signalling
    violated, _vacuous, _r, _m = run(fence_under_lock(True, second_signaller=True))
    assert "no-stuck-state" not in violated
    assert "no-fence-wait-deadlock" not in violated


STUCK = """\
from dmabuf_check.model.driver import Driver
d = Driver("lost-wakeup")
lk = d.mutex("userq_mutex")
done = d.completion("done")
d.fence("pt", live=True, owners=(d.holder("timeline"),))

@d.thread("waiter")
def waiter(k):
    k.wait_for_completion(done)

@d.thread("destroy")
def destroy(k):
    k.mutex_lock(lk)
    k.wait_for_completion(done)
    k.mutex_unlock(lk)

@d.thread("worker")
def worker(k):
    k.mutex_lock(lk)
    k.mutex_unlock(lk)
    k.complete_all(done)
DESIGN = d
"""


def test_a_stuck_driver_names_each_blocked_thread_and_what_it_waits_for(tmp_path, capsys):
    from tests.test_cli import run_cli

    src = tmp_path / "stuck.py"
    src.write_text(STUCK)
    code, out, _err = run_cli(capsys, "check", str(src), "--property", "no-stuck-state", "--calls")
    assert code == 1
    assert ("why: no thread can make a call and not every thread returned: "
            "waiter is stuck in wait_for_completion(&done) (cannot go on: the condition it waits for never holds); "
            "destroy is stuck in wait_for_completion(&done) (cannot go on: the condition it waits for never holds); "
            "worker is stuck in mutex_lock(userq_mutex) (waits for userq_mutex, held by destroy)") in " ".join(out.split())
    assert "dma-buf" not in out  # the program has none
    assert "mutex_lock(userq_mutex) never returns: it waits for userq_mutex, held by destroy" in " ".join(out.split())


# ---- REF-10: the importer's reference may live in its own structures -----------------------------------

def prime_import(bug: bool) -> Driver:
    """drm_gem_prime_import_dev(): the dma-buf reference moves to the GEM object (obj->import_attach), whose
    free path detaches and only then puts (drm_prime_gem_destroy); the bug puts first."""
    d = Driver("prime-import-ref")
    buf = d.dma_buf("buf", live=True, owners=("import", d.holder("exporter")))
    att = d.attachment("att", buf)
    import_attach = d.slot("obj->import_attach", buf, kind="ptr")

    @d.thread("import")
    def imp(k):
        k.dma_buf_attach(att, fail="out")
        k.publish(import_attach, "obj->import_attach = attach")  # the GEM object now owns the reference
        k.ret(0)
        k.label("out")
        k.dma_buf_put(buf)

    @d.thread("gem_close")
    def close(k):
        k.unpublish(import_attach, fail="out", text="dma_buf = obj->import_attach->dmabuf")
        if bug:
            k.dma_buf_put(buf)
            k.dma_buf_detach(att)
        else:
            k.dma_buf_detach(att)
            k.dma_buf_put(buf)
        k.label("out")

    return d


def test_a_reference_the_gem_object_holds_keeps_the_attachment_legal():
    violated, vacuous, _r, _m = run(prime_import(False))
    assert violated == {} and vacuous == []  # was attach-holds-ref after 2 steps: only the thread's own count


def test_a_put_before_detach_through_the_gem_object_is_still_found():
    violated, _vacuous, _r, _m = run(prime_import(True))
    assert violated["attach-holds-ref"] == 6
