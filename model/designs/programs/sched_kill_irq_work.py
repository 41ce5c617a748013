"""9b04369b060f "drm/scheduler: Don't kill jobs in interrupt context" (v5.19-rc8; Fixes: 542cff7893a3
"drm/sched: Avoid lockdep spalt on killing a processes").

542cff7893a3 moved the tail of drm_sched_entity_kill_jobs_cb() -- the fence callback armed on
entity->last_scheduled for every job still queued when a process is killed -- into an irq_work:

    static void drm_sched_entity_kill_jobs_irq_work(struct irq_work *wrk)
    {
            struct drm_sched_job *job = container_of(wrk, typeof(*job), work);
            drm_sched_fence_finished(job->s_fence);
            WARN_ON(job->s_fence->parent);
            job->sched->ops->free_job(job);          /* panfrost/msm: takes a mutex */
    }
    static void drm_sched_entity_kill_jobs_cb(struct dma_fence *f, struct dma_fence_cb *cb)
    {
            init_irq_work(&job->work, drm_sched_entity_kill_jobs_irq_work);
            irq_work_queue(&job->work);
    }

irq_work runs in hard-IRQ context, and free_job() of Panfrost and MSM takes a mutex: "BUG: scheduling while
atomic".  The fix uses INIT_WORK()/schedule_work() instead.
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "sched-kill-irq-work"


def _program(bug: bool, name: str) -> Driver:
    d = Driver(name, follows="drivers/gpu/drm/scheduler/sched_entity.c")
    ring = d.holder("ring->fence_drv")
    last = d.fence("entity->last_scheduled", live=True, owners=(ring,))
    d.gpu("gpu_irq", signals=last, drops_ref=False)
    scheduled = d.fence("s_fence->scheduled", live=True, owners=("job",))
    bo_lock = d.mutex("bo->mappings.lock")
    work = "kill_jobs_irq_work" if bug else "kill_jobs_work"

    def free_job(k):   # job->sched->ops->free_job(job): panfrost_job_free() -> panfrost_job_put() -> ...
        k.mutex_lock(bo_lock, text="panfrost_job_cleanup(): panfrost_gem_mapping_put() -> mutex_lock()")
        k.mutex_unlock(bo_lock)
        k.dma_fence_put(scheduled, "drm_sched_job_cleanup(): drm_sched_fence_free / dma_fence_put")
        k.dma_fence_put(finished, "dma_fence_put(&job->s_fence->finished)")

    job = d.kref("job", live=True, owners=("entity_fini",), release=free_job, kernel="struct drm_sched_job")
    finished = d.fence("s_fence->finished", live=True, owners=("job",))

    def kill_jobs_cb(k):   # drm_sched_entity_kill_jobs_cb(): runs inside dma_fence_signal(last)
        if bug:
            k.irq_work_queue(work, pass_refs=(job,))
        else:
            k.queue_work(work, pass_refs=(job,), text="INIT_WORK(&job->work, ...); schedule_work(&job->work)")

    def kill_body(k):
        k.dma_fence_signal(finished)          # drm_sched_fence_finished(job->s_fence)
        k.kref_put(job, "job->sched->ops->free_job(job)")

    if bug:
        d.irq_work(work, kernel="drm_sched_entity_kill_jobs_irq_work()")(kill_body)
    else:
        d.work(work, kernel="drm_sched_entity_kill_jobs_work()")(kill_body)

    @d.thread("entity_fini", kernel="drm_sched_entity_fini() -> drm_sched_entity_kill_jobs()")
    def entity_fini(k):
        # job = spsc_queue_pop(&entity->job_queue); its dependencies already signaled
        k.dma_fence_signal(scheduled)        # drm_sched_fence_scheduled(s_fence)
        k.dma_fence_set_error(finished, "-ESRCH")
        k.dma_fence_add_callback(last, kill_jobs_cb, fail="enoent", pass_refs=(job,),
                                 name="drm_sched_entity_kill_jobs_cb")
        k.ret(0)
        k.label("enoent")                    # r == -ENOENT: drm_sched_entity_kill_jobs_cb(NULL, &job->finish_cb)
        k.call(kill_jobs_cb)

    return d


def make(bug: str | None = None) -> Driver:
    return _program(bug is not None, NAME if bug is None else f"bug-{bug}")


DESIGN = make()

BUGS = {
    "sched-kill-jobs-irq-work": Bug(
        NAME, 'the kill_jobs fence callback queues an irq_work whose free_job() takes a mutex (hard IRQ context)',
        'sleep-in-atomic', ('CTX-1', 'FENCE-6'),
        "9b04369b060f 'drm/scheduler: Don't kill jobs in interrupt context'", 'sleep in atomic context'),
}
