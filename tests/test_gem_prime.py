"""d.gem_object(): GEM handles and PRIME export/self-import with the kernel's calls (drm_gem.c, drm_prime.c)."""

from __future__ import annotations

import pytest
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError

from tests.test_driver_programs import run


def prime() -> Driver:
    """Two HANDLE_TO_FD ioctls race with GEM_CLOSE of the handle, a self-import into a second handle and
    userspace closing the exported fd."""
    d = Driver("prime")
    obj = d.gem_object("bo")
    fd = d.slot("fd", obj.exported, kind="fd")
    fd2 = d.slot("fd2", obj.exported, kind="fd")

    @d.thread("export", kernel="DRM_IOCTL_PRIME_HANDLE_TO_FD")
    def export(k):
        k.drm_gem_prime_handle_to_fd(obj, fd, fail="out")
        k.label("out")

    @d.thread("export2", kernel="DRM_IOCTL_PRIME_HANDLE_TO_FD (again)")
    def export2(k):
        k.drm_gem_prime_handle_to_fd(obj, fd2, fail="out")
        k.label("out")

    @d.userspace("gem_close", kernel="DRM_IOCTL_GEM_CLOSE")
    def gem_close(k):
        k.drm_gem_handle_delete(obj)

    @d.userspace("import", kernel="DRM_IOCTL_PRIME_FD_TO_HANDLE")
    def imp(k):
        k.drm_gem_prime_fd_to_handle(fd, obj, handle=obj.handles[1], fail="out")
        k.label("out")

    @d.userspace("close_fd")
    def close_fd(k):
        k.close(fd)

    return d


def test_export_reuse_close_and_self_import_hold():
    violated, vacuous, states, m = run(prime())
    assert violated == {}
    # every path is taken: export, reuse of obj->dma_buf, -ENOENT after the close, the self-import
    assert vacuous == [] and states == 16554


def framebuffer(handle_ref: bool) -> Driver:
    """A framebuffer on an exported object vmaps obj->dma_buf at commit while userspace closes the last GEM
    handle, which frees the export and clears obj->dma_buf (5307dce878d4 'drm/gem: Acquire references on
    GEM handles for framebuffers')."""
    d = Driver("gem-fb")
    obj = d.gem_object("bo")
    fd = d.slot("fd", obj.exported, kind="fd")

    @d.thread("addfb", kernel="drm_gem_fb_init(), then a commit: drm_gem_fb_vmap()")
    def addfb(k):
        k.drm_gem_object_lookup(obj, fail="out")
        if handle_ref:
            k.drm_gem_object_handle_get_unlocked(obj)
        k.drm_gem_prime_handle_to_fd(obj, fd, fail="put")
        buf = k.ptr_load(obj.dma_buf, var="dmabuf")
        k.dma_buf_vmap(buf)
        k.dma_buf_vunmap(buf)
        k.label("put")
        if handle_ref:
            k.drm_gem_object_handle_put_unlocked(obj)
        k.drm_gem_object_put(obj)
        k.label("out")

    @d.userspace("gem_close", kernel="DRM_IOCTL_GEM_CLOSE")
    def gem_close(k):
        k.drm_gem_handle_delete(obj)

    @d.userspace("close_fd")
    def close_fd(k):
        k.close(fd)

    return d


def test_a_framebuffer_without_a_handle_reference_finds_obj_dma_buf_gone():
    violated, *_ = run(framebuffer(handle_ref=False))
    # the commit reads obj->dma_buf after the close cleared it; or vmaps the export the close freed
    assert violated == {"null-deref": 26, "use-after-free": 35}


def test_a_handle_reference_keeps_the_export():
    violated, vacuous, _states, _m = run(framebuffer(handle_ref=True))
    # reusing an earlier export never happens here (one export), but that branch is the kernel's, not the
    # program's: no dead code is reported
    assert violated == {} and vacuous == []


def test_bad_gem_objects_are_refused():
    d = Driver("g")
    with pytest.raises(ModelError, match="with no handle someone must hold it"):
        d.gem_object("bo", handles=0)
    with pytest.raises(ModelError, match="0 <= handles <= max_handles <= 4"):
        d.gem_object("bo2", handles=3, max_handles=2)


def foreign_import(sg_fails: bool) -> Driver:
    """PRIME_FD_TO_HANDLE of another device's dma-buf: attach, map, the driver's import_sg_table (which
    may fail), a handle; GEM_CLOSE and an fd close race with it. The object's release undoes the import
    (unmap, detach, dma_buf_put)."""
    d = Driver("prime-import")
    buf = d.dma_buf("foreign", live=True, owners=(d.holder("exporter"),))
    fd = d.slot("fd", buf, kind="fd", installed=True)

    def import_sg_table(k):
        if sg_fails:
            k.may_goto("enomem", "nouveau_bo_alloc() fails")
        k.ret(0)
        if sg_fails:
            k.label("enomem")
            k.ret("-ENOMEM")

    obj = d.gem_object("bo", imports=buf, import_sg_table=import_sg_table)

    @d.thread("import", kernel="DRM_IOCTL_PRIME_FD_TO_HANDLE")
    def imp(k):
        k.drm_gem_prime_fd_to_handle(fd, obj, handle=obj.handles[0], fail="out")
        k.label("out")

    @d.userspace("gem_close", kernel="DRM_IOCTL_GEM_CLOSE")
    def gem_close(k):
        k.drm_gem_handle_delete(obj, fail="out")
        k.label("out")

    @d.userspace("close_fd")
    def close_fd(k):
        k.close(fd)

    return d


def test_a_foreign_import_and_its_unwind_hold():
    for fails, states in ((True, 807), (False, 759)):
        violated, vacuous, n, m = run(foreign_import(fails))
        assert violated == {} and n == states
        assert vacuous == []


def test_an_imported_object_starts_without_handles():
    d = Driver("g")
    buf = d.dma_buf("b", live=True, owners=(d.holder("e"),))
    with pytest.raises(ModelError, match="an imported object has no handle before its import"):
        d.gem_object("bo", imports=buf, handles=1)


def open_close(bug: bool) -> Driver:
    """A driver's funcs->open makes per-file state of the object (a VM mapping of the BO for this file) and
    funcs->close drops it; what they take and drop is the object's. An open that fails leaves no handle."""
    d = Driver("gem-open")
    va = d.kref("bo_va", kernel="struct amdgpu_bo_va")

    def gem_open(k):
        k.kzalloc(va, fail="enomem", text="bo_va = amdgpu_vm_bo_add(adev, vm, abo)")
        k.ret(0)
        k.label("enomem")
        k.ret("-ENOMEM")

    def gem_close(k):
        if not bug:
            k.kref_put(va, "amdgpu_vm_bo_del(adev, bo_va)")

    obj = d.gem_object("bo", handles=0, owners=("create",), open=gem_open, close=gem_close)

    @d.thread("create", kernel="GEM_CREATE: drm_gem_handle_create(); drm_gem_object_put()")
    def create(k):
        k.drm_gem_handle_create(obj, handle=obj.handles[0], fail="err")
        k.label("err")
        k.drm_gem_object_put(obj)

    @d.userspace("close", kernel="DRM_IOCTL_GEM_CLOSE")
    def close(k):
        k.drm_gem_handle_delete(obj, fail="out")
        k.label("out")

    return d


def test_gem_open_and_close_run_with_the_handle():
    violated, vacuous, _states, _m = run(open_close(False))
    assert violated == {} and vacuous == []
    assert "kref-leak" in run(open_close(True))[0]  # a close that keeps the per-file reference leaks it
