"""Kernel objects a driver program touches, with the state the kernel keeps for them.

A driver declares its objects once (``Driver.kref``, ``Driver.mutex``, ...);
each build of the driver binds them to the variables of a fresh model, so
the same declarations serve every rebuild (trace replay, another kernel
generation). What each object's calls do, and which rules they are checked
against, lives in ``model.driver.code``.

Lifetime (every object with memory): ``UNBORN`` (not allocated yet: a NULL
pointer), ``ALLOC`` (allocated, being initialised by the thread that
allocated it), ``LIVE``, ``FREED``. A refcounted object also has its count;
who holds each reference is tracked per owner (a thread, a callback, a
publication slot), so a put without a reference, a leaked reference and a
get on zero are each a state the checker can name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dmabuf_check.model.expr import Expr, disj, lift
from dmabuf_check.model.lang import assign
from dmabuf_check.model.types import ModelError

UNBORN, ALLOC, LIVE, FREED = "UNBORN", "ALLOC", "LIVE", "FREED"
GRACE = "GRACE"  # kfree_rcu'd: readers inside an RCU read-side section may still touch it until a grace period
LIFE = (UNBORN, ALLOC, LIVE, GRACE, FREED)

CONTEXTS = ("process", "irq", "softirq", "reclaim")  # a thread's execution context
ATOMIC_CONTEXTS = ("irq", "softirq")

Body = Callable[..., None]  # a code body: fn(k, *args) writes kernel calls on the builder k


def _name_ok(name: object, what: str) -> str:
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_.>-[]" for c in name):
        raise ModelError(f"{what} name must be a non-empty string of letters, digits, '_', '.', '->', '[i]' "
                         f"(a C lvalue such as entries[0].fence), got {name!r}")
    return name


def ident(name: str) -> str:
    """A variable-safe spelling of an object name (``obj->lock`` -> ``obj__lock``, ``a[0]`` -> ``a_0_``)."""
    return name.replace("->", "__").replace(".", "_").replace("-", "_").replace("[", "_").replace("]", "_")


@dataclass(eq=False)
class KObject:
    """An object with memory and (for refcounted kinds) a reference count.

    kind     -- "kref" (struct kref / refcount_t), "file" (a struct file: fget/fput),
                "mem" (kmalloc'd, one owner, kfree), "fence" (struct dma_fence), "dma_buf"
    live     -- it exists when the threads start; ``owners`` hold its initial references
    release  -- the release callback body, run by whoever drops the last reference, before the memory is freed
    frees    -- False: the release does not free the memory; the driver does, later (``k.kfree(obj)``, e.g.
                from the work item the release queues: TTM's delayed delete)
    max_refs -- the bound on the count the model tracks (a get beyond it is a reported overflow)
    """

    name: str
    kind: str = "kref"
    live: bool = False
    owners: tuple[str, ...] = ()
    release: Body | None = None
    max_refs: int = 4
    kernel: str = ""
    frees: bool = True
    # a struct file (and a dma_buf, whose count is its file's): the last fput() defers __fput() to task_work
    # at the putter's return to userspace, or to the delayed_fput worker; the thread that runs it
    deferred: str = ""
    mmap: Body | None = None  # a file's f_op->mmap (k, vma), run by k.mmap (a dma_buf's is dma_buf_mmap_internal)
    # bound per build
    life: Expr | None = field(default=None, repr=False)
    count: Expr | None = field(default=None, repr=False)

    @property
    def refcounted(self) -> bool:
        return self.kind != "mem"

    # expressions a program may branch on (valid while a driver is being built)
    @property
    def alive(self) -> Expr:
        return self._life() == LIVE

    @property
    def freed(self) -> Expr:
        return (self._life() == FREED) | (self._life() == GRACE)

    def _life(self) -> Expr:
        if self.life is None:
            raise ModelError(f"{self.name}: object state is read only while the driver is built (inside a thread body)")
        return self.life


@dataclass(eq=False)
class Fence(KObject):
    """A struct dma_fence: refcounted, signals once, may carry an error set before it signals.

    ``lock`` is the spinlock passed to dma_fence_init (a driver's fence lock, shared by its
    fences); None gives the fence a lock of its own.
    """

    lock: SpinLock | None = None
    signaled_at_start: bool = False  # it has signaled at the start (dma_fence_get_stub(), a fence already signaled)
    context: str = ""  # dma_fence_init's context: fences of one timeline share it ("" : a context of its own)
    seqno: int = 0  # its point on the context's timeline
    long_lived: bool = False  # stays unsignaled while the program runs by design (an eviction fence)
    container: bool = False  # a dma_fence_array or dma_fence_chain (CONT-2: not a member of an array)
    # a container: the fences whose signaling makes its ops->signaled() true (dma_fence_is_signaled() on it
    # signals it then), whether or not anyone enabled signaling on it
    implied_by: tuple[Fence, ...] = ()
    enable_signaling: Body | None = None  # dma_fence_ops.enable_signaling, run once under the fence lock (FENCE-8)
    enabled_v: Expr | None = field(default=None, repr=False)
    signaled_v: Expr | None = field(default=None, repr=False)
    error_v: Expr | None = field(default=None, repr=False)
    callbacks: list[Callback] = field(default_factory=list, repr=False)

    @property
    def signaled(self) -> Expr:
        if self.signaled_v is None:
            raise ModelError(f"{self.name}: fence state is read only while the driver is built")
        return self.signaled_v == 1


@dataclass(eq=False)
class Callback:
    """A struct dma_fence_cb registered on one fence: its body runs inside dma_fence_signal."""

    name: str
    fence: Fence
    body: Body
    armed: Expr | None = field(default=None, repr=False)


@dataclass(eq=False)
class Lock:
    """A kernel lock: a mutex (sleeps) or a spinlock (atomic while held)."""

    name: str
    sleeps: bool = True
    lock_class: str = ""
    kernel: str = ""
    holder: Expr | None = field(default=None, repr=False)
    decl: object = field(default=None, repr=False)  # the model's Lock declaration

    @property
    def cls(self) -> str:
        return self.lock_class or self.name


class Mutex(Lock):
    pass


@dataclass(eq=False)
class SpinLock(Lock):
    sleeps: bool = False


@dataclass(eq=False)
class RwSem(Lock):
    """A struct rw_semaphore: many readers or one writer. A writer queues first, and a queued writer holds
    off new readers (rwsem fairness), so a reader that takes it again behind a waiting writer deadlocks."""

    waiter: Expr | None = field(default=None, repr=False)  # the queued writer (FREE: none)


@dataclass(eq=False)
class Slot:
    """A place that holds one reference to an object once it is published: an fd table entry
    (fd_install), an idr/xarray entry, a list membership, a pointer field another thread reads."""

    name: str
    obj: KObject
    kind: str = "fd"  # fd, idr, xarray, list, ptr
    installed: bool = False  # holds the object's reference when the threads start
    holds_ref: bool = True  # False: a list the object's release unlinks it from (db_list), no reference
    lock: Lock | None = None  # the lock readers of the slot take (Driver.list_readers)
    of: KObject | None = None  # the object it is a field of (obj->dma_buf): freeing that object with it set leaks
    v: Expr | None = field(default=None, repr=False)

    @property
    def set(self) -> Expr:
        if self.v is None:
            raise ModelError(f"{self.name}: slot state is read only while the driver is built")
        return self.v == 1


class ErrPtr:
    """``ERR_PTR(-errno)``: what a failed call returns where a pointer is expected. Not NULL (``if (!p)`` lets it
    through; only ``IS_ERR(p)`` catches it), and dereferencing, freeing or putting it oopses."""

    name = "ERR_PTR"

    def __repr__(self) -> str:
        return "ERR_PTR"


ERR_PTR = ErrPtr()


@dataclass(eq=False)
class Pointer:
    """A pointer field that may point at one of several objects, NULL or an ``ERR_PTR`` (syncobj->fence,
    job->parent, a cached obj->dma_buf, ubuf->sg): each store moves a reference in (``holds_ref``), each exchange
    moves the old one out, and a read branches on where it points."""

    name: str
    targets: tuple[KObject, ...]
    init: KObject | None = None
    holds_ref: bool = True
    of: KObject | None = None  # the object it is a field of: freeing that object with a reference here leaks it
    v: Expr | None = field(default=None, repr=False)

    def points_to(self, obj: KObject | ErrPtr | None) -> Expr:
        if self.v is None:
            raise ModelError(f"{self.name}: pointer state is read only while the driver is built")
        return self.v == ("NULL" if obj is None else obj.name)


@dataclass(eq=False)
class Value:
    """A pointer a thread read into a local variable (``fence = READ_ONCE(p)``, ``old = xchg(&p, new)``):
    NULL, an ERR_PTR or one of the pointer's targets, fixed from the read on whatever the pointer does later.
    Any call takes it where it takes an object (``k.dma_fence_wait(fence)``): the call runs on the object the
    variable holds then. In a condition, ``fence.signaled`` / ``fence.alive`` read the state of that object
    (false for NULL), ``fence.null`` tests for NULL and ``fence.is_(obj)`` for one target."""

    var: str  # the C variable's name, as traces show it
    thread: str
    targets: tuple[KObject, ...]
    err: bool  # the pointer may hold an ERR_PTR
    # the variable is declared the first time something reads it (a call on it, a condition): a return value
    # nobody uses costs no state. declare() makes the variable; each producer (the call, or each branch of a
    # call on another value, that sets it) gets the assignment of its source expression.
    declare: Callable[[], Expr] = field(repr=False, default=None)  # type: ignore[assignment]
    producers: list[tuple[list, Expr]] = field(default_factory=list, repr=False)  # (effects, source)
    _v: Expr | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.var

    @property
    def v(self) -> Expr:
        if self._v is None:
            v = self._v = self.declare()
            for effects, source in self.producers:
                effects.insert(0, assign(v, source))  # effects run in order: the source reads the state before
        return self._v

    @property
    def null(self) -> Expr:
        return self.v == "NULL"

    @property
    def is_err(self) -> Expr:
        return self.v == "ERR_PTR" if self.err else lift(False)

    def is_(self, obj: KObject | None) -> Expr:
        if obj is None:
            return self.null
        if obj not in self.targets:
            return lift(False)
        return self.v == obj.name

    def also_set_by(self, other: Value) -> None:
        """``other``'s producers set this variable too (``*fence = ...`` on two paths): ``other`` is not read."""
        if other.targets != self.targets or other.err != self.err:
            raise ModelError(f"{self.var}: set from pointers with different targets")
        for effects, source in other.producers:
            if self._v is not None:
                effects.insert(0, assign(self._v, source))
            self.producers.append((effects, source))

    def __getattr__(self, attr: str) -> Expr:
        # object state the program branches on (fence.signaled, obj.alive, obj.freed): that of the target held
        if attr.startswith("_") or not self.targets:
            raise AttributeError(attr)
        parts = []
        for t in self.targets:
            val = getattr(t, attr)
            if not isinstance(val, Expr):
                raise ModelError(f"{self.var}.{attr}: not object state a condition can read")
            parts.append((self.v == t.name) & val)
        return disj(*parts)


DMA_DIRECTIONS = ("DMA_BIDIRECTIONAL", "DMA_TO_DEVICE", "DMA_FROM_DEVICE")


@dataclass(eq=False)
class DmaMapping:
    """A streaming DMA mapping of one sg_table (or buffer) for a device: unmapped, or mapped with a direction."""

    name: str
    v: Expr | None = field(default=None, repr=False)  # "UNMAPPED" or the direction it was mapped with

    @property
    def mapped(self) -> Expr:
        if self.v is None:
            raise ModelError(f"{self.name}: mapping state is read only while the driver is built")
        return self.v != "UNMAPPED"


@dataclass(eq=False)
class Field:
    """Driver state a program reads and writes: a flag (``max_value=1``) or a bounded counter (an atomic_t,
    a pending count, a sealed bit). Reads happen in ``goto_if``/``if_`` conditions and assertions."""

    name: str
    max_value: int = 1
    init: int = 0
    kernel: str = ""
    v: Expr | None = field(default=None, repr=False)

    @property
    def value(self) -> Expr:
        if self.v is None:
            raise ModelError(f"{self.name}: a field is read only while the driver is built")
        return self.v

    @property
    def is_set(self) -> Expr:
        return self.value != 0


@dataclass(eq=False)
class Completion:
    """A struct completion: complete() lets one waiter through, complete_all() every waiter from then on."""

    name: str
    done: Expr | None = field(default=None, repr=False)


@dataclass(eq=False)
class WaitQueue:
    """A wait_queue_head_t: ``wait_event(wq, cond)`` sleeps until cond holds, rechecking it only when a
    ``wake_up(wq)`` comes after it went to sleep, so a waker that changes cond without waking loses the
    wakeup."""

    name: str


@dataclass(eq=False)
class Resv:
    """A struct dma_resv: a ww_mutex (reservation_ww_class_mutex) and fence slots of four usages."""

    name: str
    obj: KObject | None = None  # the object that embeds it (a dma-buf, a GEM/TTM object): freed with it
    lock: Mutex = field(init=False)
    reserved: Expr | None = field(default=None, repr=False)
    fences: dict[str, Expr] = field(default_factory=dict, repr=False)  # fence name -> "in the resv" flag
    initial: tuple[tuple[Fence, str], ...] = ()  # (fence, usage) in the resv at the start, each with its reference

    @property
    def owner(self) -> str:
        """The holder name of the resv's own fence references."""
        return f"resv:{self.name}"

    def __post_init__(self) -> None:
        self.lock = Mutex(f"{self.name}", lock_class="reservation_ww_class_mutex", kernel="dma_resv_lock")


@dataclass(eq=False)
class DmaBuf(KObject):
    """A struct dma_buf: a file (fget/fput through its fd), the exporter's dma_buf_ops as code bodies, a resv.

    ``ops`` maps an op name (attach, detach, map, unmap, release, begin_cpu_access, end_cpu_access,
    vmap, vunmap, mmap) to its body; a missing op does nothing. ``dynamic`` marks an exporter
    with pin/unpin (dma_buf_is_dynamic): v5.7-v6.15 a static importer's attach maps and pins it under the
    resv, and detach undoes that (ATT-6)."""

    kind: str = "dma_buf"
    ops: dict[str, Body] = field(default_factory=dict)
    resv: Resv | None = None
    lock: Lock | None = field(default=None, repr=False)  # dmabuf->lock (vmap/vunmap before v6.2)
    dynamic: bool = False


@dataclass(eq=False)
class Attachment:
    """A struct dma_buf_attachment of one importer thread to one dma-buf: NONE, ATTACHED, MAPPED."""

    name: str
    buf: DmaBuf
    dynamic: bool = False
    move_notify: Body | None = None  # dma_buf_attach_ops.move_notify: runs inside dma_buf_move_notify(), resv held
    state: str = "NONE"  # at the start: NONE, ATTACHED or MAPPED (an importer already set up)
    owner: str = ""  # who attached it, for an attachment that starts attached (REF-10 reads its references)
    v: Expr | None = field(default=None, repr=False)

    @property
    def stale(self) -> Expr:
        """A move invalidated the mapping (dma_buf_move_notify): it must be remapped before any DMA."""
        if self.v is None:
            raise ModelError(f"{self.name}: attachment state is read only while the driver is built")
        return self.v == "STALE"


@dataclass
class ThreadDecl:
    """A thread of the driver: an ioctl, an IRQ handler, a work item, a shrinker, userspace."""

    name: str
    body: Body
    context: str = "process"
    env: bool = False  # an environment actor: may also never run (idle at the start is a valid end)
    kernel: str = ""
    args: tuple = ()
    work: bool = False  # a work item: idle at the start only while it is not queued
    # where a body the library writes (d.gpu's job) was declared: the line its calls are blamed on
    where: tuple[str, int] | None = field(default=None, repr=False)


def check_fields(obj: object, what: str) -> None:
    """Each declared field of a driver object has the type its annotation says (a program file passes whatever
    it likes): one line naming the object and the field, before anything is compiled from it."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(type(obj), {**globals(), "Body": Body})
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        if not f.repr or f.name not in hints:
            continue  # bound per build, not the user's
        v = getattr(obj, f.name)
        if not _is(v, hints[f.name]):
            raise ModelError(f"{what} {getattr(obj, 'name', '?')!r}: {f.name} must be {_spell(hints[f.name])}, "
                             f"got {type(v).__name__} {str(v)[:40]!r}")


def _is(v: object, t: object) -> bool:
    import collections.abc
    import types
    import typing

    origin = typing.get_origin(t)
    if t is typing.Any or t is object:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is(v, a) for a in typing.get_args(t))
    if t is type(None):
        return v is None
    if t is bool:
        return isinstance(v, bool)
    if t is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if origin is collections.abc.Callable:
        return callable(v)
    if origin is tuple:
        args = typing.get_args(t)
        if not isinstance(v, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_is(x, args[0]) for x in v)
        return not args or (len(args) == len(v) and all(_is(x, a) for x, a in zip(v, args)))
    if origin is dict:
        kt, vt = typing.get_args(t)
        return isinstance(v, dict) and all(_is(k, kt) and _is(x, vt) for k, x in v.items())
    if isinstance(t, type):
        return isinstance(v, t)
    return True  # an annotation this check does not model


def _spell(t: object) -> str:
    import collections.abc
    import types
    import typing

    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_spell(a) for a in typing.get_args(t))
    if t is type(None):
        return "None"
    if origin is collections.abc.Callable:
        return "a function"
    if origin is tuple:
        items = [a for a in typing.get_args(t) if a is not Ellipsis]
        return "a tuple of " + (" and ".join("strings" if a is str else _spell(a) for a in items) or "values")
    if origin is dict:
        return "a dict of names to " + _spell(typing.get_args(t)[1])
    return f"a {getattr(t, '__name__', t)}"


@dataclass(eq=False)
class Syncobj(KObject):
    """A struct drm_syncobj (drivers/gpu/drm/drm_syncobj.c): refcounted; ``fence`` points at the fence last
    installed (holding a reference), replaced under ``lock``; WAIT_FOR_SUBMIT waiters sleep on ``cb_list``
    until one is installed; ``handle`` is its entry in the file's syncobj_idr, under ``table``."""

    fence: Pointer | None = field(default=None, repr=False)
    lock: SpinLock | None = field(default=None, repr=False)
    cb_list: WaitQueue | None = field(default=None, repr=False)
    handle: Slot | None = field(default=None, repr=False)
    table: SpinLock | None = field(default=None, repr=False)


@dataclass(eq=False)
class Vma(Pointer):
    """A struct vm_area_struct of a user mapping: its ``vm_file`` (this pointer) holds a reference to the file
    it maps, from mmap until munmap (``Driver.vma``; the calls are in ``model.driver.mmap``)."""


@dataclass(eq=False)
class GemObject(KObject):
    """A struct drm_gem_object (drivers/gpu/drm/drm_gem.c, drm_prime.c): refcounted; its handles in the file's
    object_idr hold one reference together while ``handle_count`` > 0 (``handles_ref`` names that holder);
    ``dma_buf`` is obj->dma_buf, the export cached while a handle exists (it holds a dma-buf reference), and
    ``exported`` the dma-buf drm_gem_prime_export makes (its priv reference is the object's)."""

    handles: tuple[Slot, ...] = field(default=(), repr=False)
    handle_count: Field | None = field(default=None, repr=False)
    handles_ref: str = field(default="", repr=False)
    dma_buf: Pointer | None = field(default=None, repr=False)
    exported: DmaBuf | None = field(default=None, repr=False)
    table: SpinLock | None = field(default=None, repr=False)  # file->table_lock (object_idr)
    name_lock: Mutex | None = field(default=None, repr=False)  # dev->object_name_lock
    prime_lock: Mutex | None = field(default=None, repr=False)  # file_priv->prime.lock
    imports: DmaBuf | None = field(default=None, repr=False)  # the foreign dma-buf a PRIME import wraps
    import_attach: Attachment | None = field(default=None, repr=False)
    import_sg_table: Body | None = field(default=None, repr=False)  # the driver's gem_prime_import_sg_table
    open: Body | None = field(default=None, repr=False)  # obj->funcs->open, run for each new handle (may fail)
    close: Body | None = field(default=None, repr=False)  # obj->funcs->close, run as a handle goes
