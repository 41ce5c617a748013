"""Fence references on submission and ioctl paths: who holds each dma_fence reference, on every path.

dma_fence_get()/dma_fence_put() pair up on every path, error paths included (FENCE-10: a waiter
holds a reference while it waits); a helper that consumes a reference on failure too must not be
followed by the caller's own put. Modeled on amdgpu_amdkfd_submit_ib(), amdgpu_cs_fence_to_handle
(drivers/gpu/drm/amd/amdgpu), drm_sched_job_add_resv_dependencies()
(drivers/gpu/drm/scheduler/sched_main.c), drm_syncobj_find_fence() (drivers/gpu/drm/drm_syncobj.c),
sync_file_merge() (drivers/dma-buf/sync_file.c) and __dma_fence_unwrap_merge()
(drivers/dma-buf/dma-fence-unwrap.c).

Threads: ``submit_ib`` (schedule an IB, wait for its fence), ``irq`` (the fence's completion),
``add_deps`` (a job takes the resv's fence as a dependency), ``fence_to_handle`` (an ioctl that
looks a fence up and may reject its argument), ``find_fence`` (drm_syncobj_find + flags check),
``merge`` (SYNC_IOC_MERGE: two fences into an array that may fail to allocate).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "fence-refs"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/scheduler/sched_main.c",
               title="fence references held across waits and dropped once on every path")
    hw = d.holder("hw_ring")  # the ring keeps the job's fence until the job is freed
    ib = d.fence("ib_fence", live=True, owners=("submit_ib", "irq"))
    resv = d.holder("resv")
    excl = d.fence("resv_fence", live=True, owners=(resv,))
    deps = d.slot("job->dependencies", excl, kind="xarray")
    cs = d.fence("cs_fence", live=True, owners=(hw,))
    ctx = d.holder("ctx")
    syncobj = d.kref("syncobj", live=True, owners=(ctx,))
    a = d.fence("fence_a", live=True, owners=(hw,))
    b = d.fence("fence_b", live=True, owners=(hw,))
    merged = d.mem("fences_array")

    @d.thread("submit_ib", kernel="amdgpu_amdkfd_submit_ib()")
    def submit_ib(k):
        if bug == "amdkfd-put-before-wait":
            k.dma_fence_put(ib)
            k.dma_fence_wait(ib)
        else:
            k.dma_fence_wait(ib)
            k.dma_fence_put(ib)

    @d.irq("irq", kernel="fence completion")
    def irq(k):
        k.dma_fence_signal(ib)
        k.dma_fence_put(ib)
        k.dma_fence_signal(excl)
        k.dma_fence_signal(cs)
        k.dma_fence_signal(a)
        k.dma_fence_signal(b)

    def add_dependency(k):  # drm_sched_job_add_dependency(): consumes the reference, on failure too
        k.publish(deps, "xa_alloc(&job->dependencies, fence)", fail="enomem")
        k.ret(0)
        k.label("enomem")
        k.dma_fence_put(excl)
        k.ret("-ENOMEM")

    @d.thread("add_deps", kernel="drm_sched_job_add_resv_dependencies()")
    def add_deps(k):
        k.dma_fence_get(excl)
        k.call(add_dependency)
        k.may_goto("failed", "ret = drm_sched_job_add_dependency(job, fence); if (ret)")
        k.ret(0)
        k.label("failed")
        if bug == "sched-add-deps-double-put":
            k.dma_fence_put(excl)

    @d.thread("fence_to_handle", kernel="AMDGPU_FENCE_TO_HANDLE")
    def fence_to_handle(k):
        k.dma_fence_get(cs)  # amdgpu_cs_get_fence()
        k.may_goto("einval", "switch (info->in.what): default")
        k.use(cs, "drm_syncobj_replace_fence(syncobj, fence)")
        k.dma_fence_put(cs)
        k.ret(0)
        k.label("einval")
        if bug != "amdgpu-fence-to-handle-leak":
            k.dma_fence_put(cs)

    @d.thread("find_fence", kernel="drm_syncobj_find_fence()")
    def find_fence(k):
        k.kref_get(syncobj, "syncobj = drm_syncobj_find(file_private, handle)")
        k.may_goto("einval", "if (flags & ~DRM_SYNCOBJ_WAIT_FLAGS_...)")
        k.use(syncobj, "*fence = drm_syncobj_fence_get(syncobj)")
        k.kref_put(syncobj, "drm_syncobj_put(syncobj)")
        k.ret(0)
        k.label("einval")
        if bug != "syncobj-find-fence-leak":
            k.kref_put(syncobj, "drm_syncobj_put(syncobj)")

    @d.thread("merge", kernel="sync_file_merge() / __dma_fence_unwrap_merge()")
    def merge(k):
        k.dma_fence_get(a)
        k.dma_fence_get(b)
        k.kzalloc(merged, fail="err", text="fences = kcalloc(num_fences, ...) / dma_fence_array_create()")
        k.use(merged, "array->fences = fences")
        k.dma_fence_put(a)  # the array's references stand in for ours in the real code; here they are dropped
        k.dma_fence_put(b)
        k.kfree(merged)
        k.ret(0)
        k.label("err")
        if bug in ("sync-file-merge-leak", "fence-unwrap-merge-leak"):
            k.ret("-ENOMEM")
        k.dma_fence_put(a)
        k.dma_fence_put(b)

    return d


DESIGN = make()

BUGS = {
    "amdkfd-put-before-wait": Bug(
        NAME, "dma_fence_put(f) before dma_fence_wait(f)", "use-after-free", ("FENCE-10", "KOBJ-1"),
        "7150850146eb 'drm/amdgpu: Fix fence put before wait in amdgpu_amdkfd_submit_ib' (CVE-2026-31566)",
        "fence reference"),
    "sched-add-deps-double-put": Bug(
        NAME, "dma_fence_put() again after drm_sched_job_add_dependency() failed (it consumed the reference)",
        "kref-put-noref", ("KREF-3",),
        "5801e65206b0 'drm/sched: Fix potential double free in drm_sched_job_add_resv_dependencies' (CVE-2025-40096)",
        "put without reference"),
    "amdgpu-fence-to-handle-leak": Bug(
        NAME, "return -EINVAL without dma_fence_put()", "kref-leak", ("KREF-4",),
        "dfced44f122c 'drm/amd/amdgpu/amdgpu_cs: fix refcount leak of a dma_fence obj' (CVE-2022-49137)",
        "leak on error path"),
    "syncobj-find-fence-leak": Bug(
        NAME, "return -EINVAL after drm_syncobj_find() without drm_syncobj_put()", "kref-leak", ("KREF-4",),
        "e5b93bd6fdb9 'drm/syncobj: Fix memory leak in drm_syncobj_find_fence()' (CVE-2026-74393)",
        "leak on error path"),
    "sync-file-merge-leak": Bug(
        NAME, "array allocation fails: return without putting the collected fences", "kref-leak", ("KREF-4",),
        "ffe000217c50 'dma-buf/sync_file: Don't leak fences on merge failure' (CVE-2021-47305)", "leak on error path"),
    "fence-unwrap-merge-leak": Bug(
        NAME, "dma_fence_array_create() fails: return NULL without putting the unwrapped fences", "kref-leak",
        ("KREF-4",), "949291c53140 'dma-fence: Fix reference leak on fence merge failure path'", "leak on error path"),
}
