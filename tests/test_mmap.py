"""The mmap path of driver programs: a VMA's file reference, dma_buf_mmap_internal, dma_buf_mmap and
vma_set_file, the exporter's mmap op and its locking per generation (MMAP-1, MMAP-2, MMAP-3)."""

from __future__ import annotations

import pytest
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError

from tests.test_driver_programs import run


def heap(op_locks_resv: bool = False) -> Driver:
    """Userspace maps a dma-buf whose exporter's mmap (remap_pfn_range) may fail, unmaps it, closes the fd."""
    d = Driver("heap-mmap")
    d.mm()

    def mmap_op(k, vma):
        if op_locks_resv:  # an exporter that serialises against moves by itself
            k.dma_resv_lock(buf.resv)
        k.may_goto("enomem", "if (remap_pfn_range(vma, ...))")
        if op_locks_resv:
            k.dma_resv_unlock(buf.resv)
        k.ret(0)
        k.label("enomem")
        if op_locks_resv:
            k.dma_resv_unlock(buf.resv)
        k.ret("-ENOMEM")

    buf = d.dma_buf("buf", ops={"mmap": mmap_op}, live=True)
    fd = d.slot("fd", buf, kind="fd", installed=True)
    vma = d.vma("vma", files=(buf,))

    @d.userspace("user")
    def user(k):
        k.mmap(vma, fd, fail="out")
        k.munmap(vma)
        k.label("out")
        k.close(fd)

    return d


def own_close(m, vacuous: list[str]) -> list[str]:
    """What never ran (close()'s 'not found' and the fget inside mmap are the kernel's branches: the same
    thread closes its installed fd, and that is no dead code of the program)."""
    return [a.kernel for a in m.actions if a.name in vacuous]


def test_a_failed_mmap_drops_the_vmas_reference():
    violated, vacuous, states, m = run(heap())
    assert violated == {} and states == 32 and own_close(m, vacuous) == []


def test_an_mmap_op_that_takes_the_resv_deadlocks_where_the_core_holds_it():
    violated, *_ = run(heap(op_locks_resv=True), "v6.2")  # v6.2-v6.5: the core locks resv around the op
    assert violated == {"no-fence-wait-deadlock": 7, "no-stuck-state": 7}
    violated, *_ = run(heap(op_locks_resv=True), "v6.6")  # "dma-buf: Change locking policy for mmap()"
    assert violated == {}


def test_the_mmap_lock_is_held_for_write_around_the_op():
    m, _info = heap().build()
    op = next(a for a in m.actions if "remap_pfn_range" in a.kernel)
    assert "mm->mmap_lock" in op.holds


def gem_forward(manual: bool) -> Driver:
    """A DRM device file's mmap forwards an imported GEM object to its dma-buf (drm_gem_prime_mmap ->
    dma_buf_mmap): vma_set_file() swaps the VMA's file reference; setting vm_file by hand loses the device
    file's reference the VMA held (the dance vma_set_file, 2b5b95b1ff3d, was written for)."""
    d = Driver("gem-mmap")
    buf = d.dma_buf("buf", ops={"mmap": lambda k, vma: None}, live=True, owners=(d.holder("import_attach"),))

    def drm_mmap(k, vma):
        if manual:
            k.kref_get(buf, "get_file(dmabuf->file)")
            k.ptr_store(vma, buf, text="vma->vm_file = dmabuf->file")
            k.ret(0)
        else:
            k.dma_buf_mmap(buf, vma, fail="err")
            k.ret(0)
            k.label("err")
            k.ret("-EINVAL")

    drm = d.kref("drm_file", kind="file", live=True, mmap=drm_mmap)
    fd = d.slot("drm_fd", drm, kind="fd", installed=True)
    vma = d.vma("vma", files=(buf, drm))

    @d.userspace("user")
    def user(k):
        k.mmap(vma, fd, fail="out")
        k.munmap(vma)
        k.label("out")
        k.close(fd)

    return d


def test_forwarding_with_dma_buf_mmap_holds():
    violated, vacuous, states, m = run(gem_forward(manual=False))
    assert violated == {} and states == 28 and own_close(m, vacuous) == []


def test_setting_vm_file_by_hand_leaks_the_device_files_reference():
    violated, *_ = run(gem_forward(manual=True))
    assert violated == {"kref-leak": 4}


def test_mmap_of_a_dma_buf_needs_an_error_path():
    d = Driver("m")
    buf = d.dma_buf("buf", ops={"mmap": lambda k, vma: None}, live=True)
    fd = d.slot("fd", buf, kind="fd", installed=True)
    vma = d.vma("vma", files=(buf,))

    @d.userspace("user")
    def user(k):
        k.mmap(vma, fd)

    with pytest.raises(ModelError, match=r"can fail \(-EINVAL: no mmap op"):
        d.build()


def test_a_vma_maps_files_only():
    d = Driver("m")
    obj = d.kref("obj", live=True, owners=("t",))
    with pytest.raises(ModelError, match="files must be files or dma-bufs"):
        d.vma("vma", files=(obj,))
