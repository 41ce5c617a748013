"""d.syncobj(): a struct drm_syncobj with the kernel's calls (drm_syncobj.c as programs over its objects)."""

from __future__ import annotations

import pytest
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError

from tests.test_driver_programs import holds, run


def wait_ioctl(wait_for_submit: bool = True, puts: bool = True) -> Driver:
    """DRM_IOCTL_SYNCOBJ_WAIT on a syncobj an execbuf fills in later, while userspace may destroy its handle."""
    d = Driver("syncobj-lib")
    job = d.fence("job_fence", live=True, owners=("gpu", "submit"))
    so = d.syncobj("syncobj", (job,), owners=("submit",))
    d.gpu("gpu", signals=job)

    @d.thread("find")
    def find(k):
        fence = k.drm_syncobj_find_fence(so, fail="err", wait_for_submit=wait_for_submit)
        k.dma_fence_wait(fence)
        if puts:
            k.dma_fence_put(fence)
        k.label("err")

    @d.thread("submit", kernel="execbuf: drm_syncobj_replace_fence(out_syncobj, job)")
    def submit(k):
        k.drm_syncobj_replace_fence(so, job)
        k.dma_fence_put(job)
        k.drm_syncobj_put(so)

    @d.userspace("destroy")
    def destroy(k):
        k.drm_syncobj_destroy(so)

    return d


def test_the_kernels_find_fence_holds_with_no_vacuous_action():
    # every outcome is reached: -ENOENT after the destroy, the fence found at once, the wait for submit and
    # its -ERESTARTSYS; the syncobj's release drops the fence it holds
    assert holds(wait_ioctl()) == 4141
    assert holds(wait_ioctl(wait_for_submit=False)) == 2941  # -EINVAL when no fence is installed yet


def test_the_fence_find_fence_returns_is_the_callers_to_put():
    violated, *_ = run(wait_ioctl(puts=False))
    assert violated == {"kref-leak": 14}


def test_a_syncobj_nobody_holds_is_refused():
    d = Driver("s")
    f = d.fence("f", live=True, owners=("t",))
    with pytest.raises(ModelError, match="without a handle someone must hold it"):
        d.syncobj("so", (f,), handle=False)


def test_a_call_on_something_else_is_refused():
    d = Driver("s")
    f = d.fence("f", live=True, owners=("t",))
    obj = d.kref("obj", live=True, owners=("t",))

    @d.thread("t")
    def t(k):
        k.drm_syncobj_replace_fence(obj, f)

    with pytest.raises(ModelError, match="'obj' is not a syncobj of this driver"):
        d.build()


def test_a_syncobj_without_a_handle_cannot_be_looked_up():
    d = Driver("s")
    f = d.fence("f", live=True, owners=("t",))
    so = d.syncobj("so", (f,), handle=False, owners=("t",))

    @d.thread("t")
    def t(k):
        k.drm_syncobj_find(so, fail="out")
        k.label("out")

    with pytest.raises(ModelError, match="so has no handle"):
        d.build()
