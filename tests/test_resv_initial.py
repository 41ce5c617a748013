"""d.resv(fences={fence: usage}): fences already in a reservation object when the threads start."""

from __future__ import annotations

import pytest
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError

from tests.test_driver_programs import holds, run


def scanout(usage: str, *, initial: bool = True) -> Driver:
    """A display commit waits for the BO's fences before scanning it out; the render job submitted earlier
    left its fence in the BO's resv as WRITE (the implicit-sync rule of drm_gem_plane_helper_prepare_fb)."""
    d = Driver("resv-initial")
    f = d.fence("render", live=True, owners=("gpu",))
    bo = d.kref("bo", live=True, owners=("commit",))
    r = d.resv("bo->resv", of=bo, fences={f: "WRITE"} if initial else None)
    d.gpu("gpu", signals=f, accesses=(bo,))

    @d.thread("commit")
    def commit(k):
        k.dma_resv_wait_timeout(r, usage)
        k.device_access(bo, after=(f,))
        k.kref_put(bo)

    return d


def test_waiting_for_the_write_fences_holds():
    assert holds(scanout("WRITE")) == 23
    assert holds(scanout("READ")) == 23  # READ waits for WRITE too (KERNEL < WRITE < READ < BOOKKEEP)


def test_waiting_only_for_kernel_fences_scans_out_before_the_render():
    violated, *_ = run(scanout("KERNEL"))
    # and the commit's put frees the BO (its resv drops the fence) while the GPU still writes it
    assert violated == {"dma-before-fence": 1, "dma-after-free": 6}


def test_the_resv_holds_a_reference_to_each_initial_fence():
    m, _info = scanout("WRITE").build()
    init = {v.name: v.init for v in m.variables}
    assert init["refs_render"] == 2 and init["ref_resv:bo__resv_render"] == 1 and init["inresv_bo__resv_render"] == 1


def test_without_the_initial_fence_the_model_differs():
    # the wait finds nothing to wait for: the same commit is then a scanout before the render
    violated, *_ = run(scanout("WRITE", initial=False))
    assert "dma-before-fence" in violated


@pytest.mark.parametrize("fences, message", [
    ("usage", "usage must be one of KERNEL, WRITE, READ, BOOKKEEP"),
    ("unborn", "is in it at the start, so it exists then: live=True"),
    ("foreign", "fences= takes fences of this driver"),
])
def test_bad_initial_fences_are_refused(fences, message):
    d = Driver("bad")
    f = d.fence("f", live=fences != "unborn", owners=("t",) if fences != "unborn" else ())
    other = Driver("other").fence("g", live=True, owners=())
    arg = {"usage": {f: "EXCLUSIVE"}, "unborn": {f: "WRITE"}, "foreign": {other: "WRITE"}}[fences]
    with pytest.raises(ModelError, match=message):
        d.resv("r", fences=arg)
