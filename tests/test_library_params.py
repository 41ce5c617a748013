"""No parameter of the library's kernel objects and calls is inert: each changes the compiled model or what
exploring it finds (the fingerprint of tests/test_driver_programs.py)."""

from __future__ import annotations

from dmabuf_check.model.driver import Driver

from tests.test_driver_programs import fingerprint


def cpu_access(**kw) -> Driver:
    d = Driver("p")
    f = d.fence("f", live=True, owners=("gpu",))
    bo = d.kref("bo", live=True, owners=(d.holder("h"),))
    buf = d.dma_buf("buf", live=True, owners=("t",), resv=d.resv("r", of=bo, fences={f: "READ"}))
    d.gpu("gpu", signals=f)

    @d.thread("t")
    def t(k):
        k.dma_buf_begin_cpu_access(buf, **kw)
        k.dma_buf_end_cpu_access(buf)
        k.dma_buf_put(buf)

    return d


def syncobj(initial: bool = False, wait_for_submit: bool = False) -> Driver:
    d = Driver("p")
    f = d.fence("f", live=True, owners=("gpu", "t"))
    so = d.syncobj("so", (f,), fence=f if initial else None)
    d.gpu("gpu", signals=f)

    @d.thread("t")
    def t(k):
        fence = k.drm_syncobj_find_fence(so, fail="out", wait_for_submit=wait_for_submit)
        k.dma_fence_put(fence)
        k.label("out")
        k.drm_syncobj_replace_fence(so, f)
        k.dma_fence_put(f)

    return d


def gem(handles: int = 1, sg: bool = False) -> Driver:
    d = Driver("p")
    buf = d.dma_buf("foreign", live=True, owners=(d.holder("e"),))
    fd = d.slot("fd", buf, kind="fd", installed=True)
    obj = d.gem_object("bo", handles=handles, owners=("t",) if not handles else ())

    def import_sg_table(k):
        k.may_goto("err", "alloc fails")
        k.ret(0)
        k.label("err")
        k.ret("-ENOMEM")

    imp = d.gem_object("imp", imports=buf, import_sg_table=import_sg_table if sg else None)

    @d.thread("t")
    def t(k):
        k.drm_gem_object_lookup(obj, fail="out")
        k.drm_gem_object_put(obj)
        k.label("out")
        k.drm_gem_prime_fd_to_handle(fd, imp, handle=imp.handles[0], fail="none")
        k.label("none")

    return d


def mmap(fop: bool) -> Driver:
    d = Driver("p")

    def f_op_mmap(k, vma):
        k.may_goto("err", "remap fails")
        k.ret(0)
        k.label("err")
        k.ret("-EAGAIN")

    f = d.kref("file", kind="file", live=True, mmap=f_op_mmap if fop else None)
    fd = d.slot("fd", f, kind="fd", installed=True)
    vma = d.vma("vma", files=(f,))

    @d.thread("t")
    def t(k):
        k.mmap(vma, fd, fail="out")
        k.munmap(vma)
        k.label("out")

    return d


def test_the_cpu_access_direction_changes_what_begin_waits_for():
    assert fingerprint(cpu_access()) != fingerprint(cpu_access(dir="DMA_FROM_DEVICE"))


def test_syncobj_options_change_the_model():
    plain = fingerprint(syncobj())
    assert fingerprint(syncobj(initial=True)) != plain
    assert fingerprint(syncobj(wait_for_submit=True)) != plain


def test_gem_options_change_the_model():
    plain = fingerprint(gem())
    assert fingerprint(gem(handles=0)) != plain
    assert fingerprint(gem(sg=True)) != plain


def test_a_files_mmap_changes_the_model():
    assert fingerprint(mmap(True)) != fingerprint(mmap(False))


def test_syncobj_handle_and_gem_max_handles_change_the_model():
    def so(handle: bool) -> Driver:
        d = Driver("p")
        f = d.fence("f", live=True, owners=("gpu", "t"))
        s = d.syncobj("so", (f,), handle=handle, owners=("t",))
        d.gpu("gpu", signals=f)

        @d.thread("t")
        def t(k):
            k.drm_syncobj_replace_fence(s, f)
            k.dma_fence_put(f)
            k.drm_syncobj_put(s)

        return d

    assert fingerprint(so(True)) != fingerprint(so(False))  # the handle keeps it alive past the put

    def gem2(max_handles: int) -> Driver:
        d = Driver("p")
        obj = d.gem_object("bo", max_handles=max_handles)

        @d.thread("t")
        def t(k):
            k.drm_gem_handle_create(obj, handle=obj.handles[-1], fail="out")
            k.label("out")
            k.drm_gem_handle_delete(obj, handle=obj.handles[-1])

        return d

    assert fingerprint(gem2(2)) != fingerprint(gem2(3))
