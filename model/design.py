"""The exporter-design API: what a driver author writes to have an exporter checked.

A design is a Python file defining ``DESIGN = Design(...)``. It says which
dma_buf_ops the exporter implements and how each behaves: which locks it
takes and in which order (its own driver locks included), what it waits on,
whether it allocates or pins, whether a move notifies importers and waits for
their fences, and what the fence-signalling path does. ``importer`` describes
the importer side of the driver (the generic importer follows the contract;
a seeded bug may break one rule of it). ``model.compose`` turns a design and
a protocol profile into one model; ``model.validate`` rejects an incomplete
or inconsistent design before any search, naming the field and the rule.

Lock names in ``locks`` lists: ``"resv"`` is the buffer's reservation lock
(dma_resv), ``"resv_other"`` the other buffer's in a two-buffer design, and
any name declared in ``Design.locks`` is a driver lock (a mutex).

    from dmabuf_check.model.design import Design, Op

    DESIGN = Design(
        name="my-heap", follows="drivers/dma-buf/heaps/system_heap.c",
        ops={"attach": Op(), "detach": Op(), "map": Op(), "unmap": Op(), "release": Op()},
    )
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

ALLOC_POINTS = ("export", "attach", "first-map")
GFP = ("GFP_KERNEL", "GFP_NOFS", "GFP_NOIO", "GFP_ATOMIC")
USAGES = ("KERNEL", "WRITE", "READ", "BOOKKEEP")
KINDS = ("static", "dynamic", "p2p", "cpu")
MAX_IMPORTERS = 6  # what one check takes: the state space grows 10-27x per importer
MAX_NAME = 64  # a design's name goes into file names, trace names and messages
PLACEMENTS = ("SYS", "VRAM")

# The dma_buf_ops a design may implement; REQUIRED by every profile (REF-1).
OPS = ("attach", "detach", "map", "unmap", "release", "pin", "unpin", "begin_cpu_access", "end_cpu_access",
       "vmap", "vunmap", "mmap")
REQUIRED = ("map", "unmap", "release")


class OpCode:
    """What an exporter callback does, in order, as kernel calls (``Op(code=fn)``; ``fn(k)`` calls these).

    ``k.mutex_lock("lk")`` / ``k.mutex_unlock("lk")`` (a design lock, or "resv"/"resv_other" with
    ``k.dma_resv_lock``/``k.dma_resv_unlock``), ``k.kmalloc("GFP_KERNEL")``, ``k.copy_from_user()``,
    ``k.dma_resv_wait_timeout("WRITE")``, and ``k.core()``: where the core's own part of the call
    happens (the lazy allocation of a first map, the mapping itself); without it, at the end. Locks the
    code still holds at its end are released in reverse order, as a callback's flags are.
    """

    def __init__(self) -> None:
        self.steps: list[tuple[str, str | None]] = []

    def mutex_lock(self, name: str) -> None:
        self.steps.append(("lock", name))

    def mutex_unlock(self, name: str) -> None:
        self.steps.append(("unlock", name))

    def dma_resv_lock(self, name: str = "resv") -> None:
        self.steps.append(("lock", name))

    def dma_resv_unlock(self, name: str = "resv") -> None:
        self.steps.append(("unlock", name))

    def kmalloc(self, gfp: str = "GFP_KERNEL") -> None:
        self.steps.append(("alloc", gfp))

    kzalloc = kmalloc

    def copy_from_user(self) -> None:
        self.steps.append(("fault", None))

    copy_to_user = copy_from_user

    def dma_resv_wait_timeout(self, usage: str = "BOOKKEEP") -> None:
        self.steps.append(("wait", usage))

    def core(self) -> None:
        self.steps.append(("core", None))


@dataclass(frozen=True)
class Op:
    """How one exporter callback behaves: as flags, or as ``code`` (the same steps, in the order written).

    locks      -- locks the callback takes, outermost first (released in reverse at its end)
    waits      -- fence usage class it waits for on the buffer before returning (None: no wait)
    allocates  -- GFP flags of an allocation it makes (None: none)
    pins       -- it pins the backing storage for as long as its counterpart has not run
                  (attach pins until detach, like drm_gem_map_attach; vmap pins until vunmap)
    faults     -- it touches user memory (copy_*_user or a fault), i.e. takes mmap_lock
    code       -- ``fn(k)`` writing the callback as calls on an ``OpCode`` (then locks, waits, allocates and
                  faults stay unset): the flags are sugar for ``lock...; copy_from_user; wait; core``
    """

    locks: tuple[str, ...] = ()
    waits: str | None = None
    allocates: str | None = None
    pins: bool = False
    faults: bool = False
    code: Callable[[OpCode], None] | None = None

    def steps(self) -> list[tuple[str, str | None]]:
        """The callback's steps in order; the flags read as locks, the user-memory access, the wait, the core."""
        if self.code is not None:
            k = OpCode()
            self.code(k)
            return k.steps
        return ([("lock", lk) for lk in self.locks] + ([("fault", None)] if self.faults else [])
                + ([("wait", self.waits)] if self.waits else []) + [("core", None)])


@dataclass(frozen=True)
class Move:
    """The exporter moving backing storage between placements (TTM eviction/validation).

    notify      -- call dma_buf_move_notify() so dynamic importers drop their mappings (MIG-5)
    waits       -- fence usage class waited for before the old placement is reused (MIG-6; BOOKKEEP: all);
                   for a pipelined move the copy job depends on them on the GPU, the CPU does not wait
    respects_pins -- skip a pinned buffer (MIG-4)
    pipelined   -- the copy runs on the exporter's engine; its fence is added with ``fence_usage``
    fence_usage -- usage class the move fence is added with (KERNEL: everybody waits, RESV-U1)
    """

    locks: tuple[str, ...] = ("resv",)
    notify: bool = True
    waits: str | None = "BOOKKEEP"
    respects_pins: bool = True
    allocates: str | None = "GFP_KERNEL"
    pipelined: bool = False
    fence_usage: str = "KERNEL"


@dataclass(frozen=True)
class Submit:
    """The exporter's own device work on the buffer (rendering, a copy engine job).

    The fence is added to the buffer's resv with ``usage`` after reserving a
    slot in the same lock hold (RESV-A1), unless ``reserve_first`` is False.
    """

    locks: tuple[str, ...] = ("resv",)
    usage: str = "WRITE"
    reserve_first: bool = True
    faults: bool = False
    allocates: str | None = None


@dataclass(frozen=True)
class Evict:
    """Two-buffer designs: while holding one buffer's resv the exporter locks the other's to evict it.

    ``ww`` -- lock with the holder's ww acquire context (wait-die, back off on -EDEADLK);
    False locks with a NULL context, which has no deadlock avoidance (RESV-W4).
    """

    locks: tuple[str, ...] = ("resv", "resv_other")
    ww: bool = True


@dataclass(frozen=True)
class Signalling:
    """The exporter's fence-signalling path (its IRQ handler or completion worker).

    It runs inside a signalling critical section (dma_fence_begin_signalling,
    SIG-1). ``locks`` it takes, ``allocates`` GFP flags of an allocation on
    the path, ``waits`` True if it waits on another fence; ``in_order`` False
    lets fences of its one context complete out of seqno order (FENCE-3).
    """

    locks: tuple[str, ...] = ()
    allocates: str | None = None
    waits: bool = False
    in_order: bool = True


@dataclass(frozen=True)
class Importer:
    """The importer side of the driver; every field True follows the contract.

    holds_ref_while_attached -- dma_buf_put only after dma_buf_detach (REF-10)
    unmaps_before_detach     -- dma_buf_detach only after unmapping (ATT-7)
    remaps_stale             -- after move_notify, no device access through the old mapping (DYN-7)
    waits_kernel_fences      -- a dynamic importer waits for KERNEL fences before device access (DYN-9)
    locks_for_map            -- a dynamic importer holds resv around map/unmap (LOCK-1)
    nested_map_lock          -- a dynamic importer holding resv calls the _unlocked map/unmap,
                                which take resv again (DL-14)
    brackets_cpu_access      -- CPU access only between begin/end_cpu_access (CPU-1)
    balanced_vmap            -- dma_buf_vunmap only after a successful dma_buf_vmap (CPU-7)
    mmap_holds_file_ref      -- an mmap keeps a reference on the dma-buf file (REF-12)
    reserve_before_add       -- reserve fence slots in the same resv hold as the add (RESV-A1)
    ww_ctx                   -- lock several resvs with a ww acquire context (RESV-W4)
    ww_backoff               -- on -EDEADLK: "release" every lock, then lock_slow (RESV-W2);
                                "keep" the held lock across lock_slow; "ignore" the error and block
    pins                     -- dynamic importers pin for scanout (dma_buf_pin/unpin, DYN-2)
    implicit_sync            -- a job's implicit dependencies are honoured: the scheduler runs a write
                                after every implicit fence, a read after the writes (SYNC-1/2,
                                drm_sched_job_add_implicit_dependencies)
    """

    holds_ref_while_attached: bool = True
    unmaps_before_detach: bool = True
    remaps_stale: bool = True
    waits_kernel_fences: bool = True
    locks_for_map: bool = True
    nested_map_lock: bool = False
    brackets_cpu_access: bool = True
    balanced_vmap: bool = True
    mmap_holds_file_ref: bool = True
    reserve_before_add: bool = True
    ww_ctx: bool = True
    ww_backoff: str = "release"
    pins: bool = False
    implicit_sync: bool = True


@dataclass(frozen=True)
class Design:
    """An exporter design (and the importer side of its driver)."""

    name: str
    follows: str = ""  # the kernel driver or document the design is modeled on
    kernel: str = "v6.16"  # the protocol generation the design is written for (--kernel overrides)
    title: str = ""
    ops: dict[str, Op] = field(default_factory=dict)
    locks: tuple[str, ...] = ()  # the driver's own locks (mutexes), usable in any locks list
    lock_order: tuple[str, ...] = ()  # optional: the driver's documented lock order (outermost first)
    placements: tuple[str, ...] = ("SYS",)
    allocate: str = "export"  # when backing storage is allocated: export, attach or first-map
    map_pins: bool = False  # a static exporter's map pins (its unmap unpins)
    p2p: bool = False  # the exporter can hand out peer-to-peer (VRAM) mappings to p2p importers
    move: Move | None = None
    submit: Submit | None = None
    evict: Evict | None = None
    signalling: Signalling | None = None
    importer: Importer = field(default_factory=Importer)
    kinds: tuple[str, ...] = ("static",)  # importer kinds the design supports
    mix: dict[str, int] = field(default_factory=lambda: {"static": 3})  # default importer mix
    buffers: int = 1
    shared_resv: bool = False  # two buffers share one reservation object (REF-4)
    refuse_attach_after_map: bool = False  # the exporter refuses attach once mapped (MIG-2)
    vmap_counted: bool = True  # the exporter's vunmap runs for the last user only (CPU-7)
    # dma_buf_ops.cache_sgt_mapping (v5.3-v6.15, MAP-11): the core keeps an attachment's first sg_table and
    # hands it out again; the exporter's unmap runs at detach (drm_prime.c, udmabuf set it)
    cache_sgt_mapping: bool = False

    @property
    def dynamic(self) -> bool:
        """DYN-1: an exporter is dynamic iff it implements pin and unpin."""
        return "pin" in self.ops and "unpin" in self.ops


@dataclass(frozen=True)
class Bug:
    """What a seeded-bug design reproduces: the rule it breaks and where the bug comes from.

    base      -- the correct design it changes (one field or two)
    change    -- the change, in one line
    property  -- the property that must report it (its rule's property)
    rules     -- the rule ids it breaks
    source    -- the kernel history it reproduces: commit subject and hash, report, or CVE
    kind      -- the bug class (lifetime, map/attach bracketing, migration, stale mapping, fence order,
                 ww_mutex, lock across fence wait, allocation in signalling, CPU-access bracketing, vmap count)
    kernel, mix, buffers, config -- the check that shows it (None: the design's defaults)
    """

    base: str
    change: str
    property: str
    rules: tuple[str, ...]
    source: str
    kind: str
    kernel: str | None = None
    mix: str | None = None
    buffers: int | None = None
    config: str | None = None  # kernel config options, as --config takes them ("DMABUF_MOVE_NOTIFY=y")

