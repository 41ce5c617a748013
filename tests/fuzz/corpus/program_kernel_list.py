"""poll() on a dma-buf fd while userspace closes it: the dma-buf's own fence callback must keep it alive.

dma_buf_poll() (drivers/dma-buf/dma-buf.c) puts a callback that lives inside struct dma_buf
(dmabuf->cb_in) on the first unsignaled fence of the buffer's resv; the callback wakes the poller
when that fence signals, possibly long after poll() returned. Userspace may close the fd at once,
so since v5.15 the callback owns a reference to the dma-buf's file (get_file() in poll, fput() in
the callback). The driver side is an exporter job: its fence goes into the resv and its GPU signals it.

Threads: ``submit`` (the exporter installs the fd, then its job adds a fence to the buffer's resv), ``gpu`` (the job completes),
``poller`` (userspace poll(POLLIN) on the fd), ``close_fd`` (userspace closes the fd at any moment).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "dmabuf-poll"
NAME = "dmabuf-poll"


def make(bug: str | None = None) -> Driver:
    # the bug is the core of the generations before the fix: the same program under v5.9
    d = Driver(NAME if bug is None else f"bug-{bug}", kernel=[],
               follows="drivers/dma-buf/dma-buf.c dma_buf_poll()",
               title="a dma-buf's poll callback outlives the poll() call and the fd")
    buf = d.dma_buf("buf", live=True, owners=("submit",))
    fd = d.slot("fd", buf, kind="fd")
    job = d.fence("job", live=True, owners=("submit", "gpu"))

    @d.thread("submit", kernel="export the buffer, then the exporter's job on it")
    def submit(k):
        k.get_dma_buf(buf)  # the job's reference; the export's goes to the fd
        k.dma_buf_fd(buf, fd)
        k.dma_resv_lock(buf.resv)
        k.dma_resv_reserve_fences(buf.resv)
        k.dma_resv_add_fence(buf.resv, job, "WRITE")
        k.dma_resv_unlock(buf.resv)
        k.dma_fence_put(job)
        k.dma_buf_put(buf)

    @d.irq("gpu", kernel="the job's completion interrupt")
    def gpu(k):
        k.dma_fence_signal(job)
        k.dma_fence_put(job)

    @d.userspace("poller", kernel="poll(fd, POLLIN)")
    def poller(k):
        k.dma_buf_get(fd, fail="out")  # fdget() for the syscall
        k.dma_buf_poll(buf)
        k.dma_buf_put(buf)
        k.label("out")

    d.userspace_closes_fds()  # close(2) at any moment
    return d


DESIGN = make()

BUGS = {
    "poll-cb-no-file-ref": Bug(
        NAME, "the generation before the fix: dma_buf_poll()'s callback holds no file reference (v5.9)",
        "use-after-free", ("REF-6", "KOBJ-1"),
        "ff2d23843f7f 'dma-buf/poll: Get a file reference for outstanding fence callbacks' (v5.15; stable "
        "3fc01835ac03)", "callback outlives the object"),
}


DESIGN = make()
