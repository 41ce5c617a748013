"""Out-fences on the submission path: fd_install last, and the job's fence dropped on error paths.

A sync_file owns a reference to its fence; once its fd is installed, userspace can close it and the
fence goes with it, so the fd is installed after the last use of the fence (KOBJ-2). A fence a job
set up is dropped on the error path that never hands the job to the scheduler. Modeled on
i915_gem_do_execbuffer() (out-fence) and msm_gem_submit.c's error path.

Threads: ``execbuf`` (creates the out-fence sync_file and installs its fd), ``gpu`` (completes the
batch: signals and drops the out-fence), ``close`` (userspace closing that fd), ``submit`` (a submit
that can fail after the job's fence exists).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "out-fences"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/gpu/drm/i915/gem/i915_gem_execbuffer.c",
               title="out-fence fds installed last; syncobj and fence references held to the last use")
    composite = d.fence("composite_fence", live=True, owners=("sync_file", "gpu"))

    def sync_file_release(k):
        k.dma_fence_put(composite)

    sf = d.kref("sync_file", kind="file", live=True, owners=("execbuf",), release=sync_file_release)
    out_fd = d.slot("out_fence_fd", sf, kind="fd")
    job_fence = d.fence("submit_fence")
    @d.thread("execbuf", kernel="i915_gem_do_execbuffer() with I915_EXEC_FENCE_OUT")
    def execbuf(k):
        if bug == "i915-fd-install-before-use":
            k.fd_install(out_fd)
            k.use(composite, "drm_syncobj_replace_fence(syncobj, composite_fence)")
        else:
            k.use(composite, "drm_syncobj_replace_fence(syncobj, composite_fence)")
            k.fd_install(out_fd)

    @d.irq("gpu", kernel="the batch completes")
    def gpu(k):
        k.dma_fence_signal(composite)
        k.dma_fence_put(composite)

    @d.userspace("close", kernel="close(out_fence_fd)")
    def close(k):
        k.close(out_fd)

    @d.thread("submit", kernel="msm_ioctl_gem_submit()")
    def submit(k):
        k.dma_fence_init(job_fence)  # drm_sched_job_arm(): the job's fence exists
        k.may_goto("err", "a later step of the submit fails")
        k.dma_fence_signal(job_fence)  # (pushed to the scheduler, which completes it)
        k.dma_fence_put(job_fence)
        k.ret(0)
        k.label("err")
        if bug != "msm-submit-fence-leak":
            k.dma_fence_put(job_fence)  # the never-pushed job's fence is released in submit destroy

    return d


DESIGN = make()

BUGS = {
    "i915-fd-install-before-use": Bug(
        NAME, "fd_install(out_fence_fd) before the last use of the fence", "use-after-free", ("KOBJ-1", "KOBJ-2", "REF-5"),
        "251e8c5b1b1f 'drm/i915: Move fd_install after last use of fence'", "publication/close race"),
    "msm-submit-fence-leak": Bug(
        NAME, "the error path after the job's fence exists never drops it", "kref-leak", ("KREF-4",),
        "5d319f75ccf7 'drm/msm: Fix a fence leak in submit error path' (CVE-2025-38410)", "leak on error path"),
}
