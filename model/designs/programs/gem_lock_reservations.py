"""drm_gem_lock_reservations() leaves its ww_acquire_ctx initialised on an error return
(before 2939deac1fa2 "drm/gem: Properly annotate WW context on drm_gem_lock_reservations() error",
Fixes: 7edc3e3b975b5): the error paths call ww_acquire_done() instead of ww_acquire_fini(), and
the caller (virtio_gpu_execbuffer_ioctl() -> virtio_gpu_array_put_free()) frees the object array
that embeds the ticket: lockdep's "WARNING: held lock freed!".

Two execbuffer ioctls lock the same two BOs in opposite orders (wait-die backoff, the
-EDEADLK/retry loop of drm_gem_lock_reservations() unrolled for count == 2), and each
dma_resv_lock_interruptible() may return -EINTR (a signal).
"""
from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "gem-lock-reservations"


def _program(fixed: bool, name: str) -> Driver:
    d = Driver(name, follows="drivers/gpu/drm/drm_gem.c")
    bo_a = d.resv("objs[0]->resv")
    bo_b = d.resv("objs[1]->resv")

    def error_return(k):
        if fixed:
            k.ww_acquire_fini(text="ww_acquire_fini(acquire_ctx); return ret")
        else:
            k.ww_acquire_done(text="ww_acquire_done(acquire_ctx); return ret")  # the context stays initialised

    def lock_reservations(first, second):
        """drm_gem_lock_reservations(objs, 2, acquire_ctx) with objs = {first, second}."""
        def body(k):
            k.ww_acquire_init(text="ww_acquire_init(acquire_ctx, &reservation_ww_class)")
            # contended == -1: for (i = 0; i < count; i++) ret = dma_resv_lock_interruptible(objs[i]->resv, ctx)
            k.dma_resv_lock(first, ctx=True, interruptible=True, fail="err_i0",
                            text="dma_resv_lock_interruptible(objs[0]->resv, acquire_ctx)")
            k.label("have_first")
            k.dma_resv_lock(second, ctx=True, interruptible=True, edeadlk="deadlk_i1", fail="err_i1",
                            text="dma_resv_lock_interruptible(objs[1]->resv, acquire_ctx)")
            k.label("all_locked")
            k.ww_acquire_done(text="ww_acquire_done(acquire_ctx); return 0")
            k.ret(0)

            k.label("deadlk_i1")          # -EDEADLK at i == 1: unlock objs[0], contended = 1, goto retry
            k.dma_resv_unlock(first, text="for (j = 0; j < i; j++) dma_resv_unlock(objs[j]->resv)")
            k.dma_resv_lock_slow(second, text="retry: dma_resv_lock_slow_interruptible(objs[1]->resv, acquire_ctx)")
            k.dma_resv_lock(first, ctx=True, interruptible=True, edeadlk="deadlk_i0", fail="err_i0_contended",
                            text="dma_resv_lock_interruptible(objs[0]->resv, acquire_ctx) (i == 0, contended == 1)")
            k.goto("all_locked")      # i == 1 == contended: skipped

            k.label("deadlk_i0")          # -EDEADLK at i == 0 with contended == 1 >= i: unlock objs[1]
            k.dma_resv_unlock(second, text="if (contended != -1 && contended >= i) dma_resv_unlock(objs[contended]->resv)")
            k.dma_resv_lock_slow(first, text="retry: dma_resv_lock_slow_interruptible(objs[0]->resv, acquire_ctx)")
            k.goto("have_first")      # contended = 0: the loop goes on at i == 1

            k.label("err_i1")             # -EINTR at i == 1
            k.dma_resv_unlock(first, text="for (j = 0; j < i; j++) dma_resv_unlock(objs[j]->resv)")
            k.call(error_return)
            k.ret("-EINTR")
            k.label("err_i0_contended")   # -EINTR at i == 0 while holding the contended objs[1]
            k.dma_resv_unlock(second, text="if (contended != -1 && contended >= i) dma_resv_unlock(objs[contended]->resv)")
            k.call(error_return)
            k.ret("-EINTR")
            k.label("err_i0")             # -EINTR at i == 0, nothing held
            k.call(error_return)
            k.ret("-EINTR")
        return body

    def execbuffer(first, second):
        lock = lock_reservations(first, second)

        def body(k):
            # virtio_gpu_array_lock_resv(buflist)
            k.call(lock, fail="out_unused_fd")  # ret = drm_gem_lock_reservations(objs->objs, objs->nents, &objs->ticket)
            k.dma_resv_reserve_fences(first, fail="unlock", text="dma_resv_reserve_fences(objs->objs[i]->resv, 1)")
            k.dma_resv_reserve_fences(second, fail="unlock", text="dma_resv_reserve_fences(objs->objs[i]->resv, 1)")
            k.might_sleep("virtio_gpu_cmd_submit(vgdev, buf, exbuf->size, vfpriv->ctx_id, buflist, out_fence)")
            k.label("unlock")
            # virtio_gpu_array_unlock_resv(): drm_gem_unlock_reservations()
            k.dma_resv_unlock(first, text="dma_resv_unlock(objs[0]->resv)")
            k.dma_resv_unlock(second, text="dma_resv_unlock(objs[1]->resv)")
            k.ww_acquire_fini(text="drm_gem_unlock_reservations(): ww_acquire_fini(acquire_ctx)")
            k.ret(0)
            k.label("out_unused_fd")
            k.might_sleep("virtio_gpu_array_put_free(buflist): kfree(objs) (the ticket is objs->ticket)")
            k.ret("-EINTR")
        return body

    d.thread("execbuffer_ab", kernel="DRM_IOCTL_VIRTGPU_EXECBUFFER with bo_handles {A, B}")(execbuffer(bo_a, bo_b))
    d.thread("execbuffer_ba", kernel="DRM_IOCTL_VIRTGPU_EXECBUFFER with bo_handles {B, A}")(execbuffer(bo_b, bo_a))
    return d


def make(bug: str | None = None) -> Driver:
    return _program(bug is None, NAME if bug is None else f"bug-{bug}")


DESIGN = make()

BUGS = {
    "gem-lock-reservations-no-fini": Bug(
        NAME, "drm_gem_lock_reservations()'s error returns leave the ww acquire context initialised "
        "(ww_acquire_done instead of ww_acquire_fini) and the caller frees the array embedding the ticket",
        "lock-held-at-exit", ("LOCKDEP-2", "RESV-W5"),
        "2939deac1fa2 'drm/gem: Properly annotate WW context on drm_gem_lock_reservations() error'",
        "context not finished"),
}
