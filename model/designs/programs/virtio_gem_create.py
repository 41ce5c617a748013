"""virtio_gpu_resource_create_ioctl(): the creator drops its reference right after drm_gem_handle_create()
and then reads qobj->hw_res_handle, while userspace may already have closed the guessed handle.

52531258318e 'drm/virtio: Fix GEM handle creation UAF' (CVE-2022-48899,
drivers/gpu/drm/virtio/virtgpu_ioctl.c). The fix moves drm_gem_object_put() after the last dereference.
"""
from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "virtio-gem-create"


def _program(fixed: bool, name: str) -> Driver:
    d = Driver(name, follows="drivers/gpu/drm/virtio/virtgpu_ioctl.c")
    # virtio_gpu_object_create() returned qobj with one reference, the ioctl's
    obj = d.gem_object("qobj", handles=0, owners=("create",))
    h = obj.handles[0]

    @d.thread("create", kernel="DRM_IOCTL_VIRTGPU_RESOURCE_CREATE: virtio_gpu_resource_create_ioctl()")
    def create(k):
        k.drm_gem_handle_create(obj, handle=h, fail="err")
        if not fixed:
            k.drm_gem_object_put(obj)
        k.use(obj, "rc->res_handle = qobj->hw_res_handle")
        k.use(obj, "rc->bo_handle = handle")  # (a local, but written from the same block)
        if fixed:
            k.drm_gem_object_put(obj)  # the handle owns the object now; drop ours after the last dereference
        k.ret(0)
        k.label("err")
        # upstream: drm_gem_object_release(obj) and return; modelled as the put that frees the object
        k.drm_gem_object_put(obj)
        k.ret("-ENOMEM")

    @d.userspace("gem_close", kernel="DRM_IOCTL_GEM_CLOSE racing with the guessed next handle")
    def gem_close(k):
        k.drm_gem_handle_delete(obj, fail="einval")
        k.label("einval")

    return d


def make(bug: str | None = None) -> Driver:
    return _program(bug is None, NAME if bug is None else f"bug-{bug}")


DESIGN = make()

BUGS = {
    "virtio-gem-create-uaf": Bug(
        NAME, 'the ioctl drops its object reference right after drm_gem_handle_create() and then reads qobj->hw_res_handle',
        'use-after-free', ('KOBJ-1', 'KREF-3'),
        "52531258318e 'drm/virtio: Fix GEM handle creation UAF' (CVE-2022-48899)", 'use after publication'),
}
