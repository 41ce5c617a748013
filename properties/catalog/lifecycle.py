"""Lifetime and bracketing: references, attach/detach, release (REF, ATT rules)."""

from __future__ import annotations

from dmabuf_check.model.components.context import BuildInfo
from dmabuf_check.model.expr import Expr, conj, forall
from dmabuf_check.model.lang import Model
from dmabuf_check.properties.catalog.base import Rule, has, var, vname


def _per_buffer(info: BuildInfo, fn) -> Expr:
    return conj(*(fn(b) for b in range(info.buffers)))


def _importers(m: Model):
    return m.index_sets["importers"]


def attach_holds_ref(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        att, ref = var(m, "att", b, info.buffers), var(m, "ref", b, info.buffers)
        return forall(_importers(m), lambda i: (att[i] == 1).implies(ref[i] == 1), "i")
    return _per_buffer(info, one)


def vmap_holds_ref(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        cmap, ref = var(m, "cmap", b, info.buffers), var(m, "ref", b, info.buffers)
        return forall(_importers(m), lambda i: (cmap[i] == "VMAP").implies(ref[i] == 1), "i")
    return _per_buffer(info, one)


def map_after_attach(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        mp, att = var(m, "map", b, info.buffers), var(m, "att", b, info.buffers)
        return forall(_importers(m), lambda i: (mp[i] == 1).implies(att[i] == 1), "i")
    return _per_buffer(info, one)


def detach_after_unpin(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        ipin, att = var(m, "ipin", b, info.buffers), var(m, "att", b, info.buffers)
        return forall(_importers(m), lambda i: (ipin[i] == 1).implies(att[i] == 1), "i")
    return _per_buffer(info, one)


def release_is_final(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        n = info.buffers
        released, exp_ref, ref = var(m, "released", b, n), var(m, "exp_ref", b, n), var(m, "ref", b, n)

        def clean(i) -> Expr:
            parts = [ref[i] == 0]
            if has(m, vname("att", b, n)):
                parts += [var(m, "att", b, n)[i] == 0, var(m, "map", b, n)[i] == 0]
            if has(m, vname("job", b, n)):
                parts.append(var(m, "job", b, n)[i] == "NONE")
            if has(m, vname("cmap", b, n)):
                parts.append(var(m, "cmap", b, n)[i] == "NONE")
            return conj(*parts)
        return (released == 1).implies(conj(exp_ref == 0, forall(_importers(m), clean, "i")))
    return _per_buffer(info, one)


def release_without_vmaps(m: Model, info: BuildInfo) -> Expr:
    def one(b: int) -> Expr:
        n = info.buffers
        return (var(m, "released", b, n) == 1).implies(var(m, "vmap_cnt", b, n) == 0)
    return _per_buffer(info, one)


def _device(m: Model, info: BuildInfo) -> bool:
    return has(m, vname("att", 0, info.buffers))


RULES = (
    Rule("attach-holds-ref", "an attached importer holds a reference to the dma-buf (att[i] => ref[i])",
         ("REF-10",), "dma-buf.c DOC 'dma buf device access' steps 2 and 4; drm_prime.c lifetime DOC",
         attach_holds_ref, present=_device),
    Rule("map-after-attach", "a mapped attachment is still attached (map[i] => att[i])",
         ("ATT-7", "MAP-13"), "dma-buf.c DOC 'dma buf device access' steps 3-4; dma_buf_detach()",
         map_after_attach, present=_device),
    Rule("detach-after-unpin", "an importer's explicit pin ends before it detaches (ipin[i] => att[i])",
         ("DYN-4", "ATT-7"), "dma_buf_pin() kernel-doc: buffers must be unpinned by dma_buf_unpin()",
         detach_after_unpin, applies=lambda p: p.dynamic, present=lambda m, info: has(m, vname("ipin", 0, info.buffers))),
    Rule("vmap-holds-ref", "a kernel vmap user holds a reference to the dma-buf (cmap[i]=VMAP => ref[i])",
         ("REF-10", "CPU-7"), "dma_buf_vmap() kernel-doc; dma-buf.c DOC 'cpu access'",
         vmap_holds_ref, applies=lambda p: p.cpu_access,
         present=lambda m, info: has(m, vname("vmap_cnt", 0, info.buffers))),
    Rule("release-is-final", "after release nobody holds, attaches, maps, mmaps or fences the buffer",
         ("REF-8", "REF-9", "REF-12"), "dma_buf_release(), dma_buf_file_release(); dma_buf_mmap() vma_set_file",
         release_is_final),
    Rule("release-without-vmaps", "release runs only with the vmap count at zero (dma_buf_release BUG_ON)",
         ("REF-8", "CPU-7"), "dma_buf_release(): BUG_ON(dmabuf->vmapping_counter)",
         release_without_vmaps, applies=lambda p: p.cpu_access,
         present=lambda m, info: has(m, vname("vmap_cnt", 0, info.buffers))),
)
