"""poll() on sync_file fds: each sync_file arms its own callback (POLL_ENABLED in sync_file->flags, Chris Wilson 2017)."""

from __future__ import annotations

import pytest
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError

from tests.test_driver_programs import holds, run


def two_sync_files(shared_bit: bool) -> Driver:
    """Two sync_files wrap one fence (SYNC_IOC_MERGE of a fence with itself, or two exports of one job) and
    each fd is polled until the fence signals. ``shared_bit``: the core before "dma-buf/sync_file: Allow
    multiple sync_files to wrap a single dma-fence" (2017), whose poll kept
    POLL_ENABLED in the fence's own flags, written as a core change."""
    d = Driver("sync-file-poll")
    f = d.fence("f", live=True, owners=("gpu", "export"))
    sf1, fd1 = d.sync_file("sf1", f)
    sf2, fd2 = d.sync_file("sf2", f)
    d.gpu("gpu", signals=f)
    if shared_bit:
        fence_bit = d.field("f->flags")

        @d.core("sync_file_poll")
        def old_poll(k, sf, *, ready, wait, default):
            k.test_and_set_bit(fence_bit, was_set="armed", text="test_and_set_bit(POLL_ENABLED, &fence->flags)")
            k.dma_fence_add_callback(f, lambda k2: k2.wake_up(sf.sync_wq), name=f"{sf.name}.cb", fail="now")
            k.goto("armed")
            k.label("now")
            k.wake_up(sf.sync_wq)
            k.label("armed")
            k.wait_event(sf.sync_wq, f.signaled, text=f"poll(): sleep on {sf.name}->wq")

    @d.thread("export")
    def export(k):
        k.sync_file_create(sf1)
        k.fd_install(fd1)
        k.sync_file_create(sf2)
        k.fd_install(fd2)
        k.dma_fence_put(f)

    for n, fd in ((1, fd1), (2, fd2)):
        def poller(k, fd=fd, sf=(sf1, sf2)[n - 1]):
            k.lookup(fd, fail="out", text=f"fdget({fd.name})")
            k.sync_file_poll(sf, wait=True)
            k.fput(sf)
            k.label("out")
        d.userspace(f"poll{n}")(poller)

    @d.userspace("close")
    def close(k):
        k.close(fd1)
        k.close(fd2)

    return d


def test_each_sync_file_wakes_its_own_poller():
    assert holds(two_sync_files(shared_bit=False)) == 29880


def test_a_poll_bit_in_the_shared_fence_leaves_the_second_poller_asleep():
    violated, *_ = run(two_sync_files(shared_bit=True))
    # both fds installed and polled; the second poll finds the bit set, never arms a callback, and sleeps on
    # after the fence signaled and every other thread returned
    assert violated == {"no-stuck-state": 21}


def test_poll_ready_branches_on_the_fence():
    d = Driver("poll-ready")
    f = d.fence("f", live=True, owners=("gpu", "user"))
    sf, fd = d.sync_file("sf", f)
    d.gpu("gpu", signals=f)
    seen = d.field("seen")

    @d.thread("user")
    def user(k):
        k.sync_file_create(sf)
        k.dma_fence_put(f)
        k.sync_file_poll(sf, ready="in")
        k.goto("done")
        k.label("in")
        k.set(seen, 1)
        k.label("done")
        k.fput(sf)

    assert holds(d) > 0  # both outcomes happen: no vacuous step


def test_poll_of_what_is_not_a_sync_file_is_one_line():
    d = Driver("not-sf")
    obj = d.kref("obj", live=True, owners=("t",))

    @d.thread("t")
    def t(k):
        k.sync_file_poll(obj)

    with pytest.raises(ModelError, match=r"thread t: 'obj' is not a sync_file \(Driver.sync_file\)"):
        d.build(None)
