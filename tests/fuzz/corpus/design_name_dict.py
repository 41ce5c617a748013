"""A GEM/PRIME static exporter (drm_prime helpers over a shmem GEM object).

Follows drivers/gpu/drm/drm_prime.c and drm_gem_shmem_helper.c:

- no pin/unpin ops: the exporter is static (DYN-1); instead drm_gem_map_attach()
  pins the object for the attachment's lifetime (drm_gem_pin), taking the
  object's resv itself since attach is called without it (ATT-2, LOCK-3);
  pinning allocates the shmem pages (lazy allocation at attach);
- map (drm_gem_map_dma_buf) allocates the sg table; the core holds resv (LOCK-4);
  before v6.16 drm_gem_prime_dmabuf_ops set cache_sgt_mapping: the core kept the
  first sg table per attachment and unmapped it at detach (MAP-11);
- vmap (drm_gem_dmabuf_vmap -> drm_gem_vmap_locked) pins the pages for the mapping;
- mmap (drm_gem_prime_mmap -> drm_gem_shmem_mmap) takes resv itself, which is
  correct from v6.6 on (LOCK-3, MMAP-3) and deadlocked under the v6.2-v6.5
  core lock (DL-9: check it with --kernel v6.2);
- the GPU renders into the buffer: WRITE fences, signalled by the scheduler
  without locks or allocations.
"""

from dmabuf_check.model.design import Design, Op, Signalling, Submit

DESIGN = Design(
    name={},
    title="GEM/PRIME static exporter (drm_prime.c, drm_gem_shmem_helper.c)",
    follows="drivers/gpu/drm/drm_prime.c; drivers/gpu/drm/drm_gem_shmem_helper.c",
    kernel="v6.16",
    ops={
        "attach": Op(locks=("resv",), pins=True, allocates="GFP_KERNEL"),
        "detach": Op(locks=("resv",)),
        "map": Op(allocates="GFP_KERNEL"),
        "unmap": Op(),
        "release": Op(),
        0: Op(pins=True),
        "vunmap": Op(),
        "mmap": Op(locks=("resv",)),
    },
    allocate="attach",
    cache_sgt_mapping=True,
    submit=Submit(locks=("resv",), usage="WRITE"),
    signalling=Signalling(),
    kinds=("static", "dynamic", "cpu"),
    mix={"static": 1, "dynamic": 1, "cpu": 1},
)
