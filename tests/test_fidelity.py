"""Verdicts follow the kernel of the generation they claim: each test names the kernel function and version."""

from __future__ import annotations

import pytest
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.model.compose import build
from dmabuf_check.model.design import Design, Op
from dmabuf_check.model.profiles import profile
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.catalog import for_model

BASIC = {"map": Op(), "unmap": Op(), "release": Op()}

# drivers/gpu/drm/amd/amdgpu/amdgpu_dma_buf.c: amdgpu_dmabuf_ops (v6.x) has begin_cpu_access and no
# end_cpu_access; dma_buf_end_cpu_access() calls the op only if the exporter has one
AMDGPU_OPS = {"attach": Op(), "detach": Op(), "pin": Op(waits="KERNEL"), "unpin": Op(), "map": Op(),
              "unmap": Op(), "release": Op(), "begin_cpu_access": Op(locks=("resv",)), "mmap": Op(),
              "vmap": Op(pins=True), "vunmap": Op()}


def holds(d: Design, kernel: str, mix: str) -> bool:
    m, info = build(d, kernel, mix=mix)
    r = explore(m, list(for_model(m, info, profile(kernel))))
    return r.ok


def test_amdgpu_op_table_begin_cpu_access_without_end_is_accepted_and_holds():
    d = Design(name="amdgpu-ops", ops=AMDGPU_OPS, placements=("SYS", "VRAM"), kinds=("static", "dynamic", "cpu"))
    assert holds(d, "v6.16", "dynamic=1,cpu=1")


def test_end_cpu_access_without_begin_is_accepted():
    # dma_buf_begin_cpu_access(): "if (dmabuf->ops->begin_cpu_access)": each hook is optional on its own
    d = Design(name="end-only", ops={**BASIC, "end_cpu_access": Op(), "vmap": Op()}, kinds=("static", "cpu"))
    assert holds(d, "v6.16", "static=1,cpu=1")


def test_vunmap_without_vmap_is_accepted_and_never_called():
    # dma_buf_vmap() returns -EINVAL without ops->vmap, so dma_buf_vunmap() never reaches ops->vunmap
    d = Design(name="vunmap-only", ops={**BASIC, "vunmap": Op(locks=("resv",))})
    m, _info = build(d, "v6.16", mix="static=1")
    assert not any(a.name.startswith(("vmap", "vunmap")) for a in m.actions)


def test_mmap_op_is_refused_under_v3_3_where_dma_buf_ops_had_none():
    # v3.3's struct dma_buf_ops: attach, detach, map_dma_buf, unmap_dma_buf, release; mmap came in v3.5
    d = Design(name="mmap-v33", ops={**BASIC, "mmap": Op()})
    with pytest.raises(ModelError, match=r"the v3.3 contract has no mmap op \(dma_buf_ops.mmap came in v3.5: "
                                         r"4c78513e457f 'dma-buf: mmap support'\)"):
        build(d, "v3.3", mix="static=1")
    build(d, "v6.16", mix="static=1")  # accepted where it exists
