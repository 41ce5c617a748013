"""The mmap path of a driver program: a VMA's file reference, the dma-buf core's mmap and the exporter's op.

A VMA (``Driver.vma``) holds a reference to the file it maps (``vma->vm_file``). Userspace ``mmap(fd)``
runs mm's mmap_region(): with mmap_lock held for write, the VMA takes a reference to the fd's file and
the file's mmap runs (for a dma-buf, dma_buf_mmap_internal(): -EINVAL without an exporter mmap op, else
the op, under the buffer's resv in v6.2-v6.5, MMAP-3); on an error the VMA's reference goes again.
An importer forwarding its own mmap to the exporter calls ``dma_buf_mmap(buf, vma)``, which retargets the
VMA to the dma-buf's file (vma_set_file: a reference to the new file, the old one put, MMAP-2). munmap
drops the VMA's reference. The exporter's mmap op body ``(k, vma)`` gets the VMA.
"""

from __future__ import annotations

from typing import Any

from dmabuf_check.model.driver.objects import DmaBuf, KObject, Slot, Vma
from dmabuf_check.model.types import ModelError


class MmapCalls:
    """The mmap calls of the builder ``k`` (mixed into ``model.driver.code.Code``)."""

    def _vma(self: Any, vma: object) -> Vma:
        if not isinstance(vma, Vma) or vma not in self.b.d.pointers:
            raise ModelError(f"thread {self.thread}: {getattr(vma, 'name', vma)!r} is not a VMA of this driver "
                             "(declare it with d.vma(name, files=(...)))")
        return vma

    def _mmap_checks(self: Any, buf: DmaBuf, fail: str, call: str, range_check: str) -> bool:
        """MMAP-1: -EINVAL without an exporter mmap op (False: nothing more to write) or for a range userspace
        asked beyond the buffer."""
        if "mmap" not in buf.ops:  # if (!dmabuf->ops->mmap) return -EINVAL;
            self.goto(fail, f"{call}: {buf.name} has no mmap op: return -EINVAL")
            return False
        self.may_goto(fail, f"{call}: {range_check} return -EINVAL")
        return True

    def _mmap_op(self: Any, buf: DmaBuf, vma: Vma, fail: str, call: str) -> None:
        """The exporter's mmap op (an error return goes to ``fail``), under the resv in v6.2-v6.5 (MMAP-3)."""
        r = buf.resv
        if not (self.b.prof.mmap_under_resv and r is not None):
            self._op(buf, "mmap", self._lab(fail), fails=True, arg=vma)
            return
        self._under(lambda: self.dma_resv_lock(r, text=f"{call}: dma_resv_lock({r.name}, NULL)"),
                    lambda: self.dma_resv_unlock(r, text=f"{call}: dma_resv_unlock({r.name})"),
                    lambda err: self._op(buf, "mmap", self._lab(err), fails=True, arg=vma), fail)

    def mmap(self: Any, vma: Vma, fd: Slot, *, fail: str | None = None) -> None:
        """Userspace ``mmap(..., fd, 0)``: fget(fd) (-EBADF to ``fail`` once closed), then under mmap_lock
        (write) the VMA takes a reference to the file and the file's mmap runs (a dma-buf's: the exporter's
        op, or -EINVAL without one); on an error the VMA drops its reference and the call goes to ``fail``."""
        vma = self._vma(vma)
        if not isinstance(fd, Slot) or fd.kind != "fd":
            raise ModelError(f"thread {self.thread}: mmap({vma.name}, ...): the second argument is an fd slot "
                             "(d.slot(..., kind=\"fd\"))")
        file = fd.obj
        if file not in vma.targets:
            raise ModelError(f"thread {self.thread}: mmap({vma.name}, {fd.name}): {file.name} is not among the "
                             f"files {vma.name} may map (d.vma(..., files=...))")
        ebadf, err, done = self._fresh("ebadf"), self._fresh("mmap_failed"), self._fresh("mapped")
        fop = None if isinstance(file, DmaBuf) else file.mmap
        can_fail = isinstance(file, DmaBuf) or fop is not None
        if isinstance(file, DmaBuf) and fail is None:
            raise ModelError(f"thread {self.thread}: mmap({vma.name}, {fd.name}) can fail (-EINVAL: no mmap op, a "
                             "range beyond the buffer, the exporter's error): give it fail=")
        self.lookup(fd, fail=ebadf, text=f"file = fget({fd.name})")
        mm = self.b.d.mmap_lock
        if mm is not None:
            self.mmap_write_lock(mm)
        self.kref_get(file, f"vma->vm_file = get_file({file.name})")
        self.ptr_store(vma, file, text=f"{vma.name} = {file.name}")
        if isinstance(file, DmaBuf) and self._mmap_checks(
                file, err, "dma_buf_mmap_internal()",
                f"if (vma->vm_pgoff + vma_pages(vma) > {file.name}->size >> PAGE_SHIFT)"):
            self._mmap_op(file, vma, err, "dma_buf_mmap_internal()")
        elif fop is not None:  # call_mmap(file, vma): the driver's f_op->mmap; its error return fails the mmap
            if not self._run_body(f"{file.name}->f_op->mmap", fop, self._lab(err), vma):
                can_fail = False  # it returns no error: no error path to write
            elif fail is None:
                raise ModelError(f"thread {self.thread}: mmap({vma.name}, {fd.name}): {file.name}'s mmap returns an "
                                 "error, so the mmap can fail: give it fail=")
        if mm is not None:
            self.mmap_write_unlock(mm)
        self.fput(file, f"fdput({fd.name})")
        self.goto(done)
        if can_fail:
            self.label(err)
            old = self.ptr_xchg(vma, None, var="vm_file", text=f"mmap_region() error: {vma.name} = NULL")
            self.fput(old, text="fput(vma->vm_file)")
            if mm is not None:
                self.mmap_write_unlock(mm)
            self.fput(file, f"fdput({fd.name})")
            self.goto(fail, "return the error")
        self.label(ebadf)
        if fail:
            self.goto(fail, "return -EBADF")
        self.label(done)

    def munmap(self: Any, vma: Vma) -> None:
        """Userspace ``munmap``: under mmap_lock (write) the VMA goes and drops its file reference."""
        vma = self._vma(vma)
        mm = self.b.d.mmap_lock
        if mm is not None:
            self.mmap_write_lock(mm)
        old = self.ptr_xchg(vma, None, var="vm_file", text=f"remove_vma(): {vma.name} = NULL")
        self.fput(old, text="fput(vma->vm_file)")
        if mm is not None:
            self.mmap_write_unlock(mm)

    def vma_set_file(self: Any, vma: Vma, file: KObject) -> None:
        """``vma_set_file(vma, file)``: the VMA maps ``file`` from now on: get_file(file), then the old file's
        reference is put."""
        vma = self._vma(vma)
        self.kref_get(file, f"vma_set_file({vma.name}, {file.name}): get_file({file.name})")
        old = self.ptr_xchg(vma, file, var="old_file", text=f"swap({vma.name}, {file.name})")
        self.fput(old, text="fput(old_file)")

    def dma_buf_mmap(self: Any, buf: DmaBuf, vma: Vma, *, fail: str) -> None:
        """``ret = dma_buf_mmap(buf, vma, pgoff); if (ret) goto fail;`` (an importer's mmap forwarded to the
        exporter): -EINVAL without an mmap op; else the VMA is retargeted to the dma-buf's file (vma_set_file)
        and the exporter's op runs, its error returned (the caller's mmap_region then drops what the VMA
        holds, which is now the dma-buf's file)."""
        vma = self._vma(vma)
        if not isinstance(buf, DmaBuf):
            raise ModelError(f"thread {self.thread}: dma_buf_mmap({getattr(buf, 'name', buf)!r}): not a dma_buf")
        call = f"dma_buf_mmap({buf.name})"
        if self._mmap_checks(buf, fail, call, "if (pgoff + vma_pages(vma) overflows or passes the buffer's end)"):
            self.vma_set_file(vma, buf)
            self._mmap_op(buf, vma, fail, call)
