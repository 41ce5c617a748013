"""Protocol generations (spec/rules.md section 2, "History") as profiles.

A design is checked against one generation of the dma-buf contract: which
calls exist, who takes the reservation lock around them, which fence usage
classes exist, how migration works, when the core pins. ``--kernel PROFILE``
selects one; the default is the newest. Every difference below is a field
the component builders read, with the history rule that introduced it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dmabuf_check.model.lockdep_names import PRIMED_EDGES, PRIMED_EDGES_2019
from dmabuf_check.model.types import ModelError


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    history: tuple[str, ...]  # HIST rule ids this generation stands for
    map_call: str  # the importer's map call in this generation
    unmap_call: str
    fences: bool  # the dma-buf carries a reservation object with fences (dma_resv)
    usage_classes: tuple[str, ...]  # fence usage classes, strongest first (waiting on a class waits the ones before)
    dynamic: bool  # pin/unpin and move_notify exist (dynamic importers and exporters)
    migration: str  # "stall": stall maps until all unmapped (MIG-1); "notify": move_notify under resv (MIG-5)
    cpu_access: bool  # begin/end_cpu_access, the SYNC ioctl, vmap
    locking: str  # who holds resv around map/unmap: "none", "dynamic" (dynamic importers only), "all" (v6.2)
    vmap_lock: str  # what serialises vmap/vunmap: "dma_buf.lock" (internal mutex) or "resv"
    mmap_under_resv: bool  # the core holds resv around the exporter's mmap (v6.2-v6.5; LOCK-8)
    attach_maps_mismatched: bool  # ATT-6: a static/dynamic mismatch is mapped (and pinned) at attach
    pin_on_map: bool  # MAP-9 (>= 6.16): the core pins a dynamic exporter's buffer on each static map
    reserve_slots: bool  # RESV-A1: fences are added only into slots reserved in the same lock hold
    refuse_attach_after_map: bool  # MIG-2: the exporter may refuse attach once the buffer is mapped
    map_waits_kernel: bool = True  # MAP-7: the core waits for KERNEL fences when mapping for a static importer
    mmap_op: bool = True  # dma_buf_ops.mmap exists (the 2011 RFC had it, v3.3 not; it came in v3.5, 4c78513e457f)
    # RESV-A1 before v5.19: only a shared fence needs a slot (dma_resv_reserve_shared() before
    # dma_resv_add_shared_fence(), which BUG_ONs without one); dma_resv_add_excl_fence() needs none
    shared_only_slots: bool = False
    # before v5.19, dma_resv_add_excl_fence() dropped every shared fence ("replaces all fences"): the new
    # exclusive fence must depend on them, a waiter sees only it; v5.19's dma_resv_add_fence() keeps them
    excl_replaces_shared: bool = False
    peer2peer: bool = True  # dma_buf_attach_ops.allow_peer2peer (DYN-10) exists: "dma-buf: add peer2peer flag", v5.8
    # lockdep annotations of fence signalling (5b91575f3093 "dma-fence: basic lockdep annotations",
    # ee3fa130ea12 "dma-fence: prime lockdep annotations", v5.9): signalling sections hold
    # dma_fence_map for read, a fence wait takes it; before them lockdep knows no dma_fence_map
    fence_annotations: bool = True
    # what dma_resv_lockdep() records at boot: nothing before it existed (b2a8116e2590 "dma_resv: prime lockdep
    # annotations", v5.4, 2019), mmap_lock -> resv -> fs_reclaim in 2019, the full chain from v5.9
    lockdep_primed: tuple[tuple[str, str], ...] = PRIMED_EDGES
    # kernel config options that change the protocol, with the default of the generation's Kconfig:
    # CONFIG_DMABUF_MOVE_NOTIFY (v5.7 on, "EXPERIMENTAL", default n): without it dma_buf_map_attachment()
    # pins a dynamic exporter's buffer for every map, so a mapped buffer never moves (MAP-9)
    config: tuple[tuple[str, bool], ...] = ()
    # dma_buf_ops.cache_sgt_mapping (MAP-11): "absent" before v5.3 ('dma-buf: add dynamic caching of
    # sg_table', C. Koenig, 2019), "cached" v5.3-v6.15, "removed" from v6.16 (b72f66f22c0e 'dma-buf: drop
    # caching of sg_tables': the flag is gone, every map reaches the exporter)
    sgt_cache: str = "cached"
    # dma_buf_poll()'s fence callback holds a file reference (ff2d23843f7f 'dma-buf/poll: Get a file reference
    # for outstanding fence callbacks', v5.15, backported to stable): before, closing the fd freed the dma-buf
    # under a pending callback
    poll_file_ref: bool = True


PROFILES: dict[str, Profile] = {}


def _add(p: Profile) -> None:
    PROFILES[p.name] = p


_add(Profile("rfc2011", "the 2011 RFC: attach, get/put_scatterlist, lazy allocation, migration by stalling maps",
             ("HIST-1",), "get_scatterlist", "put_scatterlist", fences=False, usage_classes=(), dynamic=False,
             migration="stall", cpu_access=False, locking="none", vmap_lock="", mmap_under_resv=False,
             attach_maps_mismatched=False, pin_on_map=False, reserve_slots=False, refuse_attach_after_map=True,
             sgt_cache="absent"))
_add(Profile("v3.3", "v3.3 (2012): map/unmap_attachment returning an sg_table; no CPU access, no fences yet",
             ("HIST-2",), "dma_buf_map_attachment", "dma_buf_unmap_attachment", fences=False, usage_classes=(),
             dynamic=False, migration="stall", cpu_access=False, locking="none", vmap_lock="",
             mmap_under_resv=False, attach_maps_mismatched=False, pin_on_map=False, reserve_slots=False,
             refuse_attach_after_map=True, mmap_op=False, sgt_cache="absent", lockdep_primed=()))
_add(Profile("v5.7", "v5.7: dynamic importers (move_notify), pin/unpin; exclusive/shared fence slots",
             ("HIST-3", "HIST-4"), "dma_buf_map_attachment", "dma_buf_unmap_attachment", fences=True,
             usage_classes=("WRITE", "READ"), dynamic=True, migration="notify", cpu_access=True, locking="dynamic",
             vmap_lock="dma_buf.lock", mmap_under_resv=False, attach_maps_mismatched=True, pin_on_map=False,
             reserve_slots=True, refuse_attach_after_map=False, map_waits_kernel=False, shared_only_slots=True,
             excl_replaces_shared=True, peer2peer=False, fence_annotations=False, lockdep_primed=PRIMED_EDGES_2019,
             config=(("DMABUF_MOVE_NOTIFY", False),), poll_file_ref=False))
# v5.8: allow_peer2peer ("dma-buf: add peer2peer flag", C. Koenig, drm-next for v5.8)
_add(replace(PROFILES["v5.7"], name="v5.8", title="v5.8: v5.7 plus peer-to-peer attachments (allow_peer2peer)",
             history=("HIST-4",), peer2peer=True))
# v5.9: fence signalling annotations and the full dma_resv_lockdep() priming
_add(replace(PROFILES["v5.8"], name="v5.9", title="v5.9: v5.8 plus lockdep's fence signalling annotations "
             "(dma_fence_begin_signalling, the primed mmu_notifier -> dma_fence_map chain)", history=("HIST-4",),
             fence_annotations=True, lockdep_primed=PRIMED_EDGES))
_add(Profile("v5.19", "v5.19: fence usage classes KERNEL < WRITE < READ < BOOKKEEP, dma_resv_reserve_fences",
             ("HIST-5",), "dma_buf_map_attachment", "dma_buf_unmap_attachment", fences=True,
             usage_classes=("KERNEL", "WRITE", "READ", "BOOKKEEP"), dynamic=True, migration="notify",
             cpu_access=True, locking="dynamic", vmap_lock="dma_buf.lock", mmap_under_resv=False,
             attach_maps_mismatched=True, pin_on_map=False, reserve_slots=True, refuse_attach_after_map=False,
             config=(("DMABUF_MOVE_NOTIFY", False),)))
_add(Profile("v6.2", "v6.2: the dynamic locking convention: every importer holds resv around map/unmap/vmap/pin",
             ("HIST-6",), "dma_buf_map_attachment", "dma_buf_unmap_attachment", fences=True,
             usage_classes=("KERNEL", "WRITE", "READ", "BOOKKEEP"), dynamic=True, migration="notify",
             cpu_access=True, locking="all", vmap_lock="resv", mmap_under_resv=True, attach_maps_mismatched=True,
             pin_on_map=False, reserve_slots=True, refuse_attach_after_map=False,
             config=(("DMABUF_MOVE_NOTIFY", False),)))
# v6.6: "dma-buf: Change locking policy for mmap()" (6.6 merge window): the exporter's mmap runs without
# the core's resv lock again (LOCK-8: v6.2-v6.5 the core held it)
_add(replace(PROFILES["v6.2"], name="v6.6", title="v6.6: v6.2 with the exporter's mmap called without resv",
             mmap_under_resv=False))
_add(Profile("v6.16", "v6.16: pin on map, no attach-time mapping or cached sg tables; mmap without resv",
             ("HIST-6", "HIST-7"), "dma_buf_map_attachment", "dma_buf_unmap_attachment", fences=True,
             usage_classes=("KERNEL", "WRITE", "READ", "BOOKKEEP"), dynamic=True, migration="notify",
             cpu_access=True, locking="all", vmap_lock="resv", mmap_under_resv=False, attach_maps_mismatched=False,
             pin_on_map=True, reserve_slots=True, refuse_attach_after_map=False,
             config=(("DMABUF_MOVE_NOTIFY", False),), sgt_cache="removed"))

DEFAULT = "v6.16"


def parse_config(p: Profile, text: str | None) -> dict[str, bool]:
    """``DMABUF_MOVE_NOTIFY=y`` (comma-separated, CONFIG_ prefix optional) over the generation's defaults."""
    out = dict(p.config)
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, eq, val = part.partition("=")
        key = key.strip().removeprefix("CONFIG_")
        if not eq or val.strip() not in ("y", "n"):
            raise ModelError(f"--config: expected OPTION=y or OPTION=n, got {part!r}")
        if key not in out:
            known = ", ".join(k for k, _ in p.config) or "none"
            raise ModelError(f"--config: {p.name} has no option {key} that changes the protocol (options: {known})")
        out[key] = val.strip() == "y"
    return out


def config_text(cfg: dict[str, bool]) -> str:
    """Options as --config takes them."""
    return ",".join(f"{k}={'y' if v else 'n'}" for k, v in cfg.items())


def profile(name: str | None) -> Profile:
    if name is None:
        return PROFILES[DEFAULT]
    if not isinstance(name, str):  # a design or driver file's kernel= of another type
        raise ModelError(f"a kernel profile is a name ({', '.join(PROFILES)}), got {type(name).__name__} {name!r}")
    if name not in PROFILES:
        raise ModelError(f"unknown kernel profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[name]


def usage_rank(p: Profile, usage: str) -> int:
    """Position of a usage class (0 is the strongest); v5.7's two slots map KERNEL to WRITE, BOOKKEEP to READ."""
    if usage in p.usage_classes:
        return p.usage_classes.index(usage)
    legacy = {"KERNEL": "WRITE", "BOOKKEEP": "READ"}
    if usage in legacy and legacy[usage] in p.usage_classes:
        return p.usage_classes.index(legacy[usage])
    raise ModelError(f"profile {p.name} has no fence usage class {usage}")


def usage_rw(write: bool) -> str:
    """SYNC-2: a writer waits for every implicit fence (READ and stronger), a reader for writers only."""
    return "READ" if write else "WRITE"


def lockdep_primed(kernel: object) -> tuple[tuple[str, str], ...]:
    """What dma_resv_lockdep() primes in a protocol generation (the full chain for an unknown name)."""
    prof = PROFILES.get(str(kernel or ""))
    return prof.lockdep_primed if prof is not None else PRIMED_EDGES
