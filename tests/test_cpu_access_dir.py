"""dma_buf_begin_cpu_access(buf, dir): the core's wait for the fences the CPU access conflicts with, and the
direction handed to the exporter's op (drivers/dma-buf/dma-buf.c, __dma_buf_begin_cpu_access)."""

from __future__ import annotations

import pytest
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError

from tests.test_driver_programs import run


def cpu_after_gpu_read(direction: str, usage: str = "READ") -> Driver:
    """The GPU still reads the buffer (a READ fence in its resv) when userspace starts a CPU access."""
    d = Driver("cpu-dir")
    job = d.fence("gpu_read", live=True, owners=("gpu",))
    bo = d.kref("bo", live=True, owners=(d.holder("exporter"),))
    r = d.resv("bo->resv", of=bo, fences={job: usage})
    buf = d.dma_buf("buf", live=True, owners=("user",), resv=r)
    d.gpu("gpu", signals=job)
    inside = d.field("cpu_inside")
    d.invariant(lambda: (inside.value == 0) | job.signaled, "the CPU accesses the buffer before the GPU is done")

    @d.thread("user", kernel="DMA_BUF_IOCTL_SYNC(SYNC_START)")
    def user(k):
        k.dma_buf_begin_cpu_access(buf, direction)
        k.set(inside, 1)
        k.set(inside, 0)
        k.dma_buf_end_cpu_access(buf, direction)
        k.dma_buf_put(buf)

    return d


def test_a_cpu_write_waits_for_the_gpus_read():
    violated, *_ = run(cpu_after_gpu_read("DMA_BIDIRECTIONAL"))
    assert violated == {}
    violated, *_ = run(cpu_after_gpu_read("DMA_TO_DEVICE"))
    assert violated == {}


def test_a_cpu_read_does_not_wait_for_readers():
    violated, *_ = run(cpu_after_gpu_read("DMA_FROM_DEVICE"))
    assert violated == {"driver-assert": 2}  # begin, then inside while the GPU still reads (which is fine)


def test_a_cpu_read_waits_for_a_writer():
    violated, *_ = run(cpu_after_gpu_read("DMA_FROM_DEVICE", usage="WRITE"))
    assert violated == {}


def test_the_exporters_op_gets_the_direction():
    seen: list[str] = []
    d = Driver("cpu-op")

    def begin(k, direction):
        seen.append(direction)

    buf = d.dma_buf("buf", live=True, owners=("user",), ops={"begin_cpu_access": begin, "end_cpu_access": begin})

    @d.thread("user")
    def user(k):
        k.dma_buf_begin_cpu_access(buf, "DMA_FROM_DEVICE")
        k.dma_buf_end_cpu_access(buf, "DMA_FROM_DEVICE")
        k.dma_buf_put(buf)

    d.build()
    assert seen[:2] == ["DMA_FROM_DEVICE", "DMA_FROM_DEVICE"]


def test_a_bad_direction_is_refused():
    d = Driver("cpu-bad")
    buf = d.dma_buf("buf", live=True, owners=("user",))

    @d.thread("user")
    def user(k):
        k.dma_buf_begin_cpu_access(buf, "DMA_WRITE")

    with pytest.raises(ModelError, match="the direction is one of DMA_BIDIRECTIONAL, DMA_TO_DEVICE"):
        d.build()


def test_an_importers_move_notify_gets_its_attachment():
    """move_notify(struct dma_buf_attachment *attach): a body with a second argument gets the attachment."""
    seen: list[str] = []
    d = Driver("move-notify-arg")
    buf = d.dma_buf("buf", live=True, owners=("exporter",), dynamic=True)

    def move_notify(k, attach):
        seen.append(attach.name)

    d.attachment("att", buf, dynamic=True, move_notify=move_notify, state="ATTACHED", owner="exporter")

    @d.thread("exporter")
    def exporter(k):
        k.dma_resv_lock(buf.resv)
        k.dma_buf_move_notify(buf)
        k.dma_resv_unlock(buf.resv)

    d.build()
    assert seen and set(seen) == {"att"}
