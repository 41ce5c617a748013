"""Buffers: the importer kinds, file references, get/put, and release (REF rules).

Per buffer b: the exporter's own reference ``exp_ref`` (the one dma_buf_export
returns, REF-1), ``released`` (the last reference is gone and ops->release ran,
REF-8), and per importer ``ref[i]`` (dma_buf_get, REF-6). A user-space mmap
holds a file reference through its VMA (REF-12), counted in ``refs``.

The importer mix is a per-importer constant ``kind[i]``. With a mixed mix the
first action (``plug_importers``) fixes each importer's kind; no action changes
it afterwards, so sorting importer rows stays an exact symmetry reduction.
"""

from __future__ import annotations

from dmabuf_check.model.components.context import BuildContext
from dmabuf_check.model.components.program import Program
from dmabuf_check.model.design import Design
from dmabuf_check.model.expr import Expr, MemberConst, conj, exists, forall, sum_of
from dmabuf_check.model.lang import assign
from dmabuf_check.model.profiles import Profile
from dmabuf_check.model.types import BOOL, Enum

KIND_LABELS = {"static": "STATIC", "dynamic": "DYNAMIC", "p2p": "P2P", "cpu": "CPU"}
DEVICE = ("STATIC", "DYNAMIC", "P2P")
DYNAMIC_LIKE = ("DYNAMIC", "P2P")


def declare_kinds(cx: BuildContext) -> None:
    labels = [KIND_LABELS[k] for k in cx.info.kinds]
    mixed = len(set(labels)) > 1
    kind = cx.arr("kind", None, Enum("kind", "NONE", *KIND_LABELS.values()), "NONE" if mixed else labels[0],
                  kernel="importer kind", meaning="static, dynamic (move_notify), p2p (allow_peer2peer) or a CPU user",
                  rule="DYN-1")
    if mixed:
        # the exporter starts once the importers exist, so nothing is explored twice around the plug step
        cx.ready = exists(cx.I, lambda j: kind[j] != "NONE", "j")
        # importers are plugged in by position; afterwards rows sort by their full contents
        cx.m.action("plug_importers", forall(cx.I, lambda j: kind[j] == "NONE"),
                    [assign(kind[MemberConst(cx.I, m)], lab) for m, lab in enumerate(labels)],
                    actor="setup", kernel="driver probe", call="probe importers: " + ", ".join(cx.info.kinds),
                    meaning="fix each importer's kind (a constant afterwards)", rule="DYN-1")


def declare(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    cx.var("exp_ref", b, BOOL, 1, kernel="dma_buf_export reference",
           meaning="the exporter's own reference to the dma-buf file", rule="REF-1")
    cx.var("released", b, BOOL, 0, kernel="dma_buf_release",
           meaning="the file's last reference is gone; ops->release ran", rule="REF-8")
    cx.arr("ref", b, BOOL, 0, kernel="dma_buf_get", meaning="importer i holds a file reference", rule="REF-6")


def refs(cx: BuildContext, d: Design, b: int) -> Expr:
    """REF-5/REF-12: the file's reference count: exporter + importers + mmaps that hold the file."""
    ref = cx.a("ref", b)
    total: Expr = cx.g("exp_ref", b) + sum_of(cx.I, lambda j: ref[j], "j")
    if cx.has("cmap", b) and d.importer.mmap_holds_file_ref:
        cmap = cx.a("cmap", b)
        total = total + sum_of(cx.I, lambda j: cmap[j] == "MMAP", "j")
    return total


def release_effects(cx: BuildContext, b: int) -> list:
    return [assign(cx.g("released", b), 1)]


def add_release_call(cx: BuildContext, d: Design, prog, b: int, last: bool) -> None:
    """The last reference runs ops->release in the caller's thread, taking the locks the design lists."""
    if not last:
        return
    rel = d.ops.get("release")
    held = []
    for kind, arg in rel.steps() if rel else [("core", None)]:  # the flags' locks and fault, or the op's code
        if kind == "lock":
            held.append(lock_for(cx, arg, b))
            prog.lock(held[-1], f"release: lock {arg}")
        elif kind == "unlock":
            lk = lock_for(cx, arg, b)
            held.remove(lk)
            prog.unlock(lk, f"release: unlock {arg}")
        elif kind == "core":
            prog.do(*release_effects(cx, b))
        elif kind == "alloc":
            prog.alloc(arg)
        elif kind == "fault":
            prog.fault("release: copy_to_user()")
    if rel and rel.allocates:
        prog.alloc(rel.allocates)


def lock_for(cx: BuildContext, name: str, b: int):
    """Resolve a design lock name for buffer b: resv, resv_other, or a driver lock."""
    if name == "resv":
        return cx.lock(cx.name("resv", b) if not cx.info.facts.get("shared_resv") else "resv")
    if name == "resv_other":
        other = 1 - b
        return cx.lock(cx.name("resv", other) if not cx.info.facts.get("shared_resv") else "resv")
    return cx.lock(name)


def actions(cx: BuildContext, d: Design, p: Profile, b: int) -> None:
    released, exp_ref = cx.g("released", b), cx.g("exp_ref", b)
    ref, kind = cx.a("ref", b), cx.a("kind")
    att = cx.a("att", b) if cx.has("att", b) else None
    count = refs(cx, d, b)
    cmap = cx.a("cmap", b) if cx.has("cmap", b) else None
    sfx = "" if cx.buffers == 1 else f"_b{b}"

    def get_pre(i):
        return conj(released == 0, count > 0, ref[i] == 0, kind[i] != "NONE")

    prog = Program(cx, f"get{sfx}", "importers", kernel="dma_buf_get", call="dma_buf_get(fd) -> dmabuf",
                      meaning="take a file reference", rule="REF-6", role="get", buffer=b)
    prog.pre = get_pre(prog.i)
    prog.do(assign(ref[prog.i], 1))

    for last in (False, True):
        prog = Program(cx, f"put{sfx}" + ("_last" if last else ""), "importers", kernel="dma_buf_put",
                          call="dma_buf_put(dmabuf)", rule="REF-10", role="put", buffer=b,
                          meaning="drop the file reference" + ("; the last one runs ops->release" if last else ""))
        i = prog.i
        keeps = [att[i] == 0] if att is not None and d.importer.holds_ref_while_attached else []
        if cmap is not None:
            keeps.append(cmap[i] != "VMAP")  # a kernel vmap user keeps its reference while vmapped (REF-10)
        prog.pre = conj(ref[i] == 1, *keeps, (count == 1) if last else (count > 1))
        prog.do(assign(ref[i], 0))
        add_release_call(cx, d, prog, b, last)

    for last in (False, True):
        prog = Program(cx, f"exp_put{sfx}" + ("_last" if last else ""), "exporter", kernel="dma_buf_put",
                          call="dma_buf_put(dmabuf) /* exporter's reference */", rule="REF-8", role="exp_put",
                          buffer=b, meaning="the exporter drops its own reference")
        prog.pre = conj(exp_ref == 1, (count == 1) if last else (count > 1))
        prog.do(assign(exp_ref, 0))
        add_release_call(cx, d, prog, b, last)


def valid_end(cx: BuildContext) -> Expr:
    return conj(*(cx.g("released", b) == 1 for b in range(cx.buffers)))
