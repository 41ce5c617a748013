"""4eaf02d6076c "drm/scheduler: fix drm_sched_job_add_implicit_dependencies".

After 9c2ba265352a ("drm/scheduler: use new iterator in drm_sched_job_add_implicit_dependencies v2")
the loop handed the fence borrowed from dma_resv_for_each_fence() straight to
drm_sched_job_add_dependency(), which *consumes* a reference (stores it in job->dependencies, or puts it
on the dedup / -ENOMEM paths).  The job's cleanup later puts the stolen reference -> the resv's
reference underflows / use-after-free.  The fix adds dma_fence_get(fence) before the call.

drivers/gpu/drm/scheduler/sched_main.c (v5.16-rc):

    dma_resv_for_each_fence(&cursor, obj->resv, dma_resv_usage_rw(write), fence) {
            /* Make sure to grab an additional ref on the added fence */   <- fix
            dma_fence_get(fence);                                          <- fix
            ret = drm_sched_job_add_dependency(job, fence);
            if (ret)
                    return ret;
    }
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "sched-implicit-deps"


def _program(bug: bool, name: str) -> Driver:
    d = Driver(name, follows="drivers/gpu/drm/scheduler/sched_main.c")
    bo = d.kref("bo", live=True, owners=("submit", "evict"), kernel="struct drm_gem_object")
    prev = d.fence("prev_job_fence", live=True, owners=("gpu",))       # an earlier job's write fence
    resv = d.resv("bo->resv", of=bo, fences={prev: "WRITE"})
    d.gpu("gpu", signals=prev)
    deps = d.slot("job->dependencies", prev, kind="xarray")

    def add_dependency(k, fence):   # drm_sched_job_add_dependency(): consumes the reference, on failure too
        k.publish(deps, "xa_alloc(&job->dependencies, &id, fence, xa_limit_32b, GFP_KERNEL)", fail="enomem")
        k.ret(0)
        k.label("enomem")
        k.dma_fence_put(fence, "if (ret != 0) dma_fence_put(fence)")
        k.ret("-ENOMEM")

    @d.thread("submit", kernel="drm_sched_job_add_implicit_dependencies(job, obj, write=true)")
    def submit(k):
        k.dma_resv_lock(resv)

        def body(k, fence):
            if not bug:
                k.dma_fence_get(fence, "dma_fence_get(fence)")
            k.call(add_dependency, fence, fail="err")

        k.dma_resv_for_each_fence(resv, "READ", body)   # dma_resv_usage_rw(true) == DMA_RESV_USAGE_READ
        k.dma_resv_unlock(resv)
        # the job runs after its dependency; then drm_sched_job_cleanup(): xa_for_each() dma_fence_put()
        k.dma_fence_wait(prev, text="drm_sched_job_dependency(): wait for the dependency")
        k.unpublish(deps, text="xa_for_each(&job->dependencies, index, fence) xa_erase()")
        k.dma_fence_put(prev, "dma_fence_put(fence) (drm_sched_job_cleanup)")
        k.kref_put(bo, "drm_gem_object_put(obj)")
        k.ret(0)
        k.label("err")
        k.dma_resv_unlock(resv)
        k.kref_put(bo, "drm_gem_object_put(obj)")

    @d.thread("evict", kernel="another user of the BO: its last put frees it and dma_resv_fini() puts the fences")
    def evict(k):
        k.kref_put(bo, "drm_gem_object_put(obj)")

    return d


def make(bug: str | None = None) -> Driver:
    return _program(bug is not None, NAME if bug is None else f"bug-{bug}")


DESIGN = make()

BUGS = {
    "sched-implicit-deps-no-get": Bug(
        NAME, 'the fence borrowed from dma_resv_for_each_fence() goes to drm_sched_job_add_dependency(), which consumes it',
        'kref-put-noref', ('KREF-3', 'KREF-2'),
        "4eaf02d6076c 'drm/scheduler: fix drm_sched_job_add_implicit_dependencies'", 'put without reference'),
}
