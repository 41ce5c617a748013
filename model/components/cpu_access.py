"""CPU access: vmap with its reference count, user-space mmap, begin/end_cpu_access and SYNC (CPU, MMAP rules).

A CPU user (importer kind ``cpu``) reaches the buffer through a kernel
mapping (dma_buf_vmap, counted by the core, CPU-7) or a user-space mmap of
the fd (whose VMA holds a file reference, REF-12), brackets its accesses
with begin/end_cpu_access (the DMA_BUF_IOCTL_SYNC start/end pair for mmap
users, CPU-1/CPU-6) and accesses in the bracket's direction. Per buffer:

- ``cmap[i]``: NONE, VMAP or MMAP; ``cpu[i]``: the bracket (NONE, READ,
  WRITE); ``acc[i]``: the CPU is reading or writing right now;
- ``vmap_cnt`` (the core's count) and ``vaddr`` (where the exporter's kernel
  mapping points: NONE, or the placement it was made for).

begin_cpu_access calls the exporter hook, then waits for the implicit
fences: all of them (READ class) for a write, the writers (WRITE class)
for a read (CPU-2). vmap is serialised by the core's dma_buf.lock before
v6.2 and by the resv lock from v6.2 (CPU-8); the exporter's mmap runs under
resv in v6.2-v6.5 only (LOCK-8, MMAP-3; "dma-buf: Change locking policy for mmap()", 6.6 merge window).
"""

from __future__ import annotations

from dmabuf_check.model.components import placement, resv
from dmabuf_check.model.components.attachment import exporter_call, exporter_op
from dmabuf_check.model.components.context import BuildContext
from dmabuf_check.model.components.program import Program
from dmabuf_check.model.design import Design
from dmabuf_check.model.expr import conj
from dmabuf_check.model.lang import assign, when
from dmabuf_check.model.profiles import Profile, usage_rw
from dmabuf_check.model.types import Enum, Range


def enabled(cx: BuildContext, p: Profile) -> bool:
    return "cpu" in cx.info.kinds and p.cpu_access


def declare(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    if not enabled(cx, p):
        return
    modes = ["NONE"] + (["VMAP"] if "vmap" in d.ops else []) + (["MMAP"] if "mmap" in d.ops else [])
    cx.arr("cmap", b, Enum("cmap", "NONE", "VMAP", "MMAP"), "NONE", kernel="dma_buf_vmap / mmap(fd)",
           meaning="how CPU user i maps the buffer", rule="CPU-7")
    cx.arr("cpu", b, Enum("cpu", "NONE", "READ", "WRITE"), "NONE", kernel="dma_buf_begin_cpu_access",
           meaning="CPU user i's begin/end_cpu_access bracket and its direction", rule="CPU-1")
    cx.arr("acc", b, Enum("acc", "NONE", "READ", "WRITE"), "NONE", kernel="CPU load/store",
           meaning="CPU user i is reading or writing the buffer right now", rule="CPU-1")
    if "vmap" in d.ops:
        n = cx.I.size
        cx.var("vmap_cnt", b, Range(0, n), 0, kernel="dmabuf->vmapping_counter",
               meaning="the core's vmap reference count", rule="CPU-7")
        cx.var("vaddr", b, Enum("vaddr", "NONE", *d.placements), "NONE", kernel="dmabuf->vmap_ptr",
               meaning="where the exporter's kernel mapping points; NONE when there is none", rule="CPU-7")
    cx.info.facts["cpu_modes"] = tuple(modes)


def actions(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    if not enabled(cx, p):
        return
    if "vmap" in d.ops:
        _vmap(cx, d, p, b)
        _vmap_again(cx, d, p, b)
        _vunmap(cx, d, p, b)
        if d.vmap_counted:
            _vunmap_again(cx, d, p, b)
    if "mmap" in d.ops:
        _mmap(cx, d, p, b)
        _munmap(cx, d, p, b)
    if "begin_cpu_access" in d.ops or d.ops.get("vmap") or d.ops.get("mmap"):
        for direction in ("READ", "WRITE"):
            _begin(cx, d, p, b, direction)
            _access(cx, d, b, direction)
        _end(cx, d, p, b)


def _sfx(cx: BuildContext, b: int) -> str:
    return "" if cx.buffers == 1 else f"_b{b}"


def _vmap_lock(cx: BuildContext, p: Profile, prog, b: int) -> None:
    if p.vmap_lock == "resv":  # CPU-8 (>= 6.2): dma_buf_vmap_unlocked takes resv
        prog.lock(resv.resv_of(cx, b), "dma_resv_lock(dmabuf->resv, NULL)")


def _vmap_program(cx: BuildContext, d: Design, p: Profile, b: int, name: str, *, unmap: bool, meaning: str,
                  note: str = "") -> Program:
    """One path of dma_buf_vmap()/dma_buf_vunmap(): the call, the importer's precondition, the vmap lock."""
    cmap, kind = cx.a("cmap", b), cx.a("kind")
    base = "dma_buf_vunmap" if unmap else "dma_buf_vmap"
    kernel = base + "_unlocked" if p.vmap_lock == "resv" else base
    prog = Program(cx, f"{name}{_sfx(cx, b)}", "importers", kernel=kernel,
                   call=f"{kernel}(dmabuf, &map{{i}})" + (f" /* {note} */" if note else ""),
                   meaning=meaning, rule="CPU-7", role="vunmap" if unmap else "vmap", buffer=b)
    i = prog.i
    if unmap:
        holds = [cmap[i] == "VMAP"] if d.importer.balanced_vmap else [cmap[i] != "MMAP"]
        prog.pre = conj(kind[i] == "CPU", cx.a("cpu", b)[i] == "NONE", *holds)
    else:
        prog.pre = conj(kind[i] == "CPU", cx.a("ref", b)[i] == 1, cmap[i] == "NONE")
    _vmap_lock(cx, p, prog, b)
    return prog


def _vmap(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    cmap = cx.a("cmap", b)
    cnt, vaddr, storage = cx.g("vmap_cnt", b), cx.g("vaddr", b), cx.g("storage", b)
    prog = _vmap_program(cx, d, p, b, "vmap", unmap=False,
                         meaning="map the buffer into the kernel (the exporter's vmap runs for the first user)")
    prog.require(cnt == 0)  # dma_buf_vmap(): ops->vmap only for the first user (vmapping_counter == 0)
    with exporter_call(cx, d, p, prog, b, "vmap") as op:
        if d.allocate != "export":
            placement.allocate(cx, d, prog, b, op.allocates if op else None)
        elif op is not None and op.allocates:
            prog.alloc(op.allocates)
    first = cnt == 0
    if op is not None and op.pins and cx.has("pins", b):
        prog.final(when(first, cx.g("pins", b), cx.g("pins", b) + 1))
    prog.final(when(first, vaddr, storage), assign(cnt, cnt + 1), assign(cmap[prog.i], "VMAP"))


def _vmap_again(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    """dma_buf_vmap() while the buffer is vmapped already: the counter goes up, the exporter is not called."""
    cnt = cx.g("vmap_cnt", b)
    prog = _vmap_program(cx, d, p, b, "vmap_again", unmap=False, note="vmapping_counter > 0: the existing mapping",
                         meaning="map the buffer into the kernel: it is mapped already, the exporter is not called")
    prog.require(cnt > 0)
    prog.final(assign(cnt, cnt + 1), assign(cx.a("cmap", b)[prog.i], "VMAP"))


def _vunmap_again(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    """dma_buf_vunmap() by a user that is not the last: the counter goes down, the exporter is not called."""
    cnt = cx.g("vmap_cnt", b)
    prog = _vmap_program(cx, d, p, b, "vunmap_again", unmap=True, note="other users remain",
                         meaning="drop a kernel mapping other users still share (the exporter's vunmap does not run)")
    prog.require(cnt > 1)
    prog.tag("vunmap")
    prog.final(assign(cnt, cnt - 1), assign(cx.a("cmap", b)[prog.i], "NONE"))


def _vunmap(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    cnt, vaddr = cx.g("vmap_cnt", b), cx.g("vaddr", b)
    prog = _vmap_program(cx, d, p, b, "vunmap", unmap=True,
                         meaning="drop the kernel mapping (the exporter's vunmap runs for the last user)")
    if d.vmap_counted:  # dma_buf_vunmap(): ops->vunmap only when the last user goes (--vmapping_counter == 0)
        prog.require(cnt <= 1)
    prog.tag("vunmap")
    exporter_op(cx, d, p, prog, b, "vunmap")
    last = (cnt == 1) if d.vmap_counted else (cnt > 0)  # uncounted: every vunmap tears the mapping down
    vop = d.ops.get("vmap")
    if vop is not None and vop.pins and cx.has("pins", b):
        prog.final(when(last, cx.g("pins", b), cx.g("pins", b) - 1))
    # the core never lets the count go below zero (it BUG()s first, CPU-7): the property flags the call
    prog.final(when(last, vaddr, "NONE"), when(cnt > 0, cnt, cnt - 1), assign(cx.a("cmap", b)[prog.i], "NONE"))


def _mmap(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    ref, cmap, kind = cx.a("ref", b), cx.a("cmap", b), cx.a("kind")
    # mmap(2) holds mmap_write_lock(mm) around f_op->mmap (mmap_region -> call_mmap -> dma_buf_mmap_internal):
    # every lock the exporter's mmap takes is taken under mmap_lock (RESV-L2, DL-6)
    prog = Program(cx, f"mmap{_sfx(cx, b)}", "importers", kernel="dma_buf_mmap_internal",
                   call="mmap(fd) -> vma{i}", meaning="map the buffer into user space (the VMA holds the file)",
                   rule="REF-12", role="mmap", buffer=b, base_holds=("mmap_lock",))
    i = prog.i
    prog.pre = conj(kind[i] == "CPU", ref[i] == 1, cmap[i] == "NONE", cx.g("storage", b) != "UNALLOC")
    if p.mmap_under_resv:  # LOCK-8: v6.2-v6.5 dma_buf_mmap_internal() held resv around the exporter's mmap
        prog.lock(resv.resv_of(cx, b), "dma_resv_lock(dmabuf->resv) /* core, v6.2-v6.5 */")
    with exporter_call(cx, d, p, prog, b, "mmap") as op:
        if op is not None and op.allocates:
            prog.alloc(op.allocates)
    prog.final(assign(cmap[i], "MMAP"))


def _munmap(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    from dmabuf_check.model.components.buffer import refs, release_effects

    cmap, cpu, kind = cx.a("cmap", b), cx.a("cpu", b), cx.a("kind")
    count = refs(cx, d, b)
    for last in (False, True) if d.importer.mmap_holds_file_ref else (False,):
        prog = Program(cx, f"munmap{_sfx(cx, b)}" + ("_last" if last else ""), "importers", kernel="munmap",
                          call="munmap(vma{i})", meaning="unmap from user space; the VMA drops its file reference",
                          rule="REF-12", role="munmap", buffer=b)
        i = prog.i
        ref_cond = [count == 1] if last else ([count > 1] if d.importer.mmap_holds_file_ref else [])
        prog.pre = conj(kind[i] == "CPU", cmap[i] == "MMAP", cpu[i] == "NONE", *ref_cond)
        prog.do(assign(cmap[i], "NONE"))
        if last:
            rel = d.ops.get("release")
            from dmabuf_check.model.components.buffer import lock_for

            for name in rel.locks if rel else ():
                prog.lock(lock_for(cx, name, b), f"release: lock {name}")
            prog.do(*release_effects(cx, b))


def _begin(cx: BuildContext, d: Design, p: Profile, b: int, direction: str) -> None:
    cmap, cpu, kind = cx.a("cmap", b), cx.a("cpu", b), cx.a("kind")
    prog = Program(cx, f"begin_cpu_{direction.lower()}{_sfx(cx, b)}", "importers", kernel="dma_buf_begin_cpu_access",
                      call=f"dma_buf_begin_cpu_access(dmabuf, {_dir(direction)}) /* or DMA_BUF_IOCTL_SYNC START */",
                      meaning=f"start CPU {direction.lower()} access; waits for the implicit fences first",
                      rule="CPU-2", role=f"begin_cpu_{direction.lower()}", buffer=b)
    i = prog.i
    prog.pre = conj(kind[i] == "CPU", cmap[i] != "NONE", cpu[i] == "NONE")
    with exporter_call(cx, d, p, prog, b, "begin_cpu_access") as op:  # CPU-3: the hook runs without resv
        if op is not None and op.allocates:
            prog.alloc(op.allocates)
    placement.wait_fences(cx, d, p, prog, b, usage_rw(direction == "WRITE"),
                          what="__dma_buf_begin_cpu_access: dma_resv_wait_timeout", tag="cpu_wait")
    prog.tag("cpu_begun")
    prog.final(assign(cpu[i], direction))


def _dir(direction: str) -> str:
    return "DMA_TO_DEVICE" if direction == "WRITE" else "DMA_FROM_DEVICE"


def _access(cx: BuildContext, d: Design, b: int, direction: str) -> None:
    cmap, cpu, acc, kind = cx.a("cmap", b), cx.a("cpu", b), cx.a("acc", b), cx.a("kind")
    prog = Program(cx, f"cpu_{direction.lower()}{_sfx(cx, b)}", "importers", kernel="CPU access",
                      call=f"CPU {direction.lower()}s the buffer through its mapping", rule="CPU-1",
                      meaning=f"the CPU {direction.lower()}s the buffer", role="cpu_access", buffer=b)
    i = prog.i
    bracket = [cpu[i] == "WRITE"] if direction == "WRITE" else [cpu[i] != "NONE"]
    prog.pre = conj(kind[i] == "CPU", cmap[i] != "NONE", acc[i] == "NONE",
                    *(bracket if d.importer.brackets_cpu_access else []))
    prog.tag("access")
    prog.do(assign(acc[i], direction))
    done = Program(cx, f"cpu_{direction.lower()}_done{_sfx(cx, b)}", "importers", kernel="CPU access",
                      call="the CPU access ends", meaning="the CPU access ends", rule="CPU-1", role="cpu_access",
                      buffer=b)
    done.pre = conj(kind[done.i] == "CPU", acc[done.i] == direction)
    done.do(assign(acc[done.i], "NONE"))


def _end(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    cpu, acc, kind = cx.a("cpu", b), cx.a("acc", b), cx.a("kind")
    prog = Program(cx, f"end_cpu{_sfx(cx, b)}", "importers", kernel="dma_buf_end_cpu_access",
                      call="dma_buf_end_cpu_access(dmabuf, dir) /* or DMA_BUF_IOCTL_SYNC END */",
                      meaning="end the CPU access bracket", rule="CPU-1", role="end_cpu", buffer=b)
    i = prog.i
    prog.pre = conj(kind[i] == "CPU", cpu[i] != "NONE", acc[i] == "NONE")
    exporter_op(cx, d, p, prog, b, "end_cpu_access")
    prog.final(assign(cpu[i], "NONE"))
