"""``Driver``: a driver's kernel objects and its code paths, as a driver author writes them.

    from dmabuf_check.model.driver import Driver

    d = Driver("my-gem", follows="drivers/gpu/drm/drm_prime.c")
    obj = d.kref("gem", live=True, owners=("ioctl",))
    handle = d.slot("handle", obj, kind="idr")
    lock = d.mutex("file->table_lock")

    @d.thread("ioctl")
    def ioctl(k):
        k.mutex_lock(lock)
        k.publish(handle)          # idr_alloc: the handle now owns the reference
        k.mutex_unlock(lock)

    @d.userspace("close")
    def close(k):
        k.mutex_lock(lock)
        k.unpublish(handle, fail="out")
        k.mutex_unlock(lock)
        k.kref_put(obj)
        k.ret()
        k.label("out")
        k.mutex_unlock(lock)

    DESIGN = d

A file that defines ``DESIGN`` (or ``DRIVER``) as a ``Driver`` is checked like
any design: ``dmabuf-check check my_driver.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from dmabuf_check.model.design import USAGES
from dmabuf_check.model.driver.code import CORE_CALLS, LIBRARY_BODIES, SLOT_KINDS, declared_at, sync_file_wake
from dmabuf_check.model.driver.objects import (
    CONTEXTS,
    Attachment,
    Body,
    Completion,
    DmaBuf,
    DmaMapping,
    Fence,
    Field,
    GemObject,
    KObject,
    Lock,
    Mutex,
    Pointer,
    Resv,
    RwSem,
    Slot,
    SpinLock,
    Syncobj,
    ThreadDecl,
    Vma,
    WaitQueue,
    _name_ok,
    check_fields,
    ident,
)
from dmabuf_check.model.types import ModelError

KINDS = ("kref", "file", "mem")


class Driver:
    """A driver program: kernel objects and the threads whose code paths use them."""

    def __init__(self, name: str, *, follows: str = "", kernel: str = "v6.16", title: str = ""):
        self.name = _name_ok(name, "driver")
        self.follows = follows
        self.kernel = kernel
        self.title = title
        self.objects: list[KObject] = []
        self.locks: list[Lock] = []
        self.slots: list[Slot] = []
        self.resvs: list[Resv] = []
        self.attachments: list[Attachment] = []
        self.threads: list[ThreadDecl] = []
        self.fields: list[Field] = []
        self.completions: list[Completion] = []
        self.waitqueues: list[WaitQueue] = []
        self.pointers: list[Pointer] = []
        self.dma_mappings: list[DmaMapping] = []
        self.mmap_lock: RwSem | None = None
        self._syncobj_table: SpinLock | None = None
        self._gem_locks: tuple[SpinLock, Mutex, Mutex] | None = None
        self.timers: dict[str, bool] = {}  # timer -> TIMER_IRQSAFE
        self.invariants: list[tuple[Callable[[], object], str]] = []
        self._names: set[str] = set()
        self.holders: list[str] = []  # long-lived holders of references (the device, a job): never dropped
        self.core_calls: dict[str, Body] = {}  # dma-buf core calls replaced by a proposed change (Driver.core)

    # ---- objects ----------------------------------------------------------------
    def _new(self, name: str, what: str) -> str:
        _name_ok(name, what)
        if name in self._names:
            raise ModelError(f"driver {self.name}: {name!r} declared twice")
        clash = [n for n in self._names if ident(n) == ident(name)]
        if clash:  # both would name the same model variables
            raise ModelError(f"driver {self.name}: {name!r} and {clash[0]!r} are spelled too alike (the same "
                             "but for '.', '-', '->' or '[]'); rename one")
        self._names.add(name)
        return name

    def kref(self, name: str, *, kind: str = "kref", live: bool = False, owners: tuple[str, ...] = (),
             release: Body | None = None, max_refs: int = 4, kernel: str = "", frees: bool = True,
             mmap: Body | None = None) -> KObject:
        """A refcounted object (struct kref / refcount_t; ``kind="file"``: a struct file, ``"mem"``: plain
        kmalloc'd memory with one owner). ``live`` objects exist at the start, their references held by
        ``owners`` (thread names); otherwise a thread creates it with ``kzalloc``. ``frees=False``: the
        release runs at the last put but leaves the memory to an explicit ``k.kfree(obj)`` (a deferred
        destroy: TTM's delayed delete, a work item, call_rcu); until then the object is dying (count 0: a
        get is a get-from-zero), and never freeing it is a leak. ``mmap``: a file's f_op->mmap, a body
        ``(k, vma)`` that ``k.mmap(vma, fd)`` runs (a driver's own file, such as a DRM device file)."""
        if mmap is not None and kind != "file":
            raise ModelError(f"object {name}: mmap= is a file's f_op->mmap (kind=\"file\")")
        if kind not in KINDS:
            raise ModelError(f"object {name}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not frees and kind != "kref":
            raise ModelError(f"object {name}: frees=False is for a kref object (a file's release is the core's)")
        o = KObject(self._new(name, "object"), kind=kind, live=live, owners=tuple(owners), release=release,
                    max_refs=self._max(name, max_refs), kernel=kernel, frees=bool(frees), mmap=mmap)
        self.objects.append(o)
        if kind == "file":
            self._deferred_fput(o)
        return o

    def _deferred_fput(self, obj: KObject) -> None:
        """fput(): the last reference queues ____fput() (task_work_add(TWA_RESUME), or the delayed_fput
        worker for a kernel thread or IRQ context); it runs the file's release in process context, after the
        putter returned, with none of its locks held."""
        obj.deferred = self._new(f"__fput_{ident(obj.name)}", "thread")  # its thread comes after the driver's own

    def _fput_threads(self) -> None:
        for obj in self.objects:
            if obj.deferred and all(t.name != obj.deferred for t in self.threads):
                def run(k, obj=obj):
                    k.deferred_fput(obj)
                self._work_thread(obj.deferred, run, "____fput() (task_work at syscall exit; delayed_fput_work)")

    def _work_thread(self, name: str, run: Body, kernel: str) -> None:
        """A work item whose body marks its own start and end (``k.work_starts``/``k.work_ends``); ``name`` is
        already reserved."""
        run.__name__ = name  # type: ignore[attr-defined]
        self.threads.append(ThreadDecl(name, run, "process", True, kernel, ()))
        self.threads[-1].work = True

    def mem(self, name: str, *, live: bool = False, owner: str | None = None, kernel: str = "") -> KObject:
        return self.kref(name, kind="mem", live=live, owners=(owner,) if owner else (), max_refs=1, kernel=kernel)

    def fence(self, name: str, *, lock: SpinLock | None = None, live: bool = False, owners: tuple[str, ...] = (),
              max_refs: int = 4, release: Body | None = None, enable_signaling: Body | None = None,
              context: str = "", signaled: bool = False, seqno: int | None = None,
              long_lived: bool = False) -> Fence:
        """A struct dma_fence; ``lock`` is the spinlock given to dma_fence_init (shared by a driver's fences);
        ``release`` and ``enable_signaling`` are its dma_fence_ops, as bodies run where the core calls them.
        ``context``: the timeline (dma_fence_context_alloc) it shares with other fences of that name: a
        later fence of its context replaces it in a resv (dma_resv_add_fence); by default its own.
        ``signaled``: it has signaled at the start (a fence a lookup finds already signaled). ``seqno``: its
        place on the timeline (dma_fence_is_later); by default the fences of a context count up in the order
        they are declared. ``long_lived``: a fence meant to stay unsignaled for as long as the program runs
        (a KFD eviction fence, signaled only when its process is evicted): pending at the end is no bug
        (fence-signals and its liveness skip it); a wait on it that never returns is still a stuck state."""
        if lock is not None and lock not in self.locks:
            raise ModelError(f"fence {name}: its lock {getattr(lock, 'name', lock)!r} is not declared on this driver")
        if signaled and not live:
            raise ModelError(f"fence {name}: signaled=True needs live=True (a fence that does not exist yet has not "
                             "signaled)")
        if not isinstance(context, str):
            raise ModelError(f"fence {name}: context must be a name (a string), got {type(context).__name__}")
        if seqno is not None and (not isinstance(seqno, int) or isinstance(seqno, bool) or seqno < 0):
            raise ModelError(f"fence {name}: seqno is a non-negative number, got {seqno!r}")
        ctx = context or name
        if seqno is None:
            seqno = 1 + max((o.seqno for o in self.objects if isinstance(o, Fence) and o.context == ctx), default=0)
        f = Fence(self._new(name, "fence"), kind="fence", live=live, owners=tuple(owners),
                  max_refs=self._max(name, max_refs), lock=lock, kernel="struct dma_fence", release=release,
                  enable_signaling=enable_signaling, context=ctx, signaled_at_start=bool(signaled), seqno=seqno,
                  long_lived=bool(long_lived))
        self.objects.append(f)
        return f

    def stub_fence(self, name: str = "dma_fence_stub") -> Fence:
        """The kernel's static stub fence (dma_fence_get_stub()): signaled from boot and never freed; take a
        reference with ``k.dma_fence_get(stub)`` where the C calls dma_fence_get_stub()."""
        return self.fence(name, live=True, signaled=True, owners=(self.holder(f"{name}.static"),), max_refs=8)

    def fence_array(self, name: str, members: tuple[Fence, ...], *, owners: tuple[str, ...] = (),
                    lock: SpinLock | None = None, created: bool = True) -> Fence:
        """A struct dma_fence_array over ``members`` (drivers/dma-buf/dma-fence-array.c as a program): it owns
        a reference to each member (dropped by its release); the first waiter enables signaling, which puts
        a callback on every member, each holding an array reference; the member callback that brings
        ``num_pending`` to zero queues the array's irq_work, which signals the array outside the member's
        lock (CONT-5). A member may not itself be a container (CONT-2). ``created=False``: it does not exist
        until a thread calls ``k.dma_fence_array_create(arr)``, which takes over that thread's member
        references on success only (on -ENOMEM the caller still owns them: sync_file_merge, unwrap_merge)."""
        if not members:
            raise ModelError(f"fence_array {name}: needs at least one member")
        for f in members:
            if not isinstance(f, Fence) or f not in self.objects:
                raise ModelError(f"fence_array {name}: {getattr(f, 'name', f)!r} is not a fence of this driver")
            if getattr(f, "container", False) and created:  # made at run time, the creation call reports it
                raise ModelError(f"fence_array {name}: member {f.name} is itself a container; dma_fence_array must "
                                 "not contain arrays or chains (CONT-2: flatten with dma_fence_unwrap)")
            if created and name not in f.owners:
                f.owners = f.owners + (name,)  # the array's reference to each member
        pending = self.field(f"{name}.num_pending", max_value=len(members), init=len(members),
                             kernel="dma_fence_array.num_pending")
        work = f"{name}.work"
        arr: Fence

        def member_cb(k):  # dma_fence_array_cb_func(): under the member's lock
            k.dec(pending, zero="last", text=f"atomic_dec_and_test(&{name}->num_pending)")
            k.dma_fence_put(arr)
            k.ret()
            k.label("last")
            k.queue_work(work, pass_refs=(arr,))  # irq_work_queue(&array->work): signal outside this lock

        def enable(k):  # dma_fence_array_enable_signaling(): under the array's lock
            for i, f in enumerate(members):
                k.dma_fence_get(arr)  # each callback holds a reference to the array
                k.dma_fence_add_callback(f, member_cb, name=f"{name}.cb{i}", fail=f"signaled{i}", pass_refs=(arr,))
                k.goto(f"next{i}")
                k.label(f"signaled{i}")  # the member already signaled: one fewer pending
                k.dma_fence_put(arr)
                if i < len(members) - 1:  # later members' callbacks are not armed yet: not the last pending
                    k.dec(pending, text=f"atomic_dec(&{name}->num_pending)")
                else:
                    k.dec(pending, zero=f"all{i}", text=f"atomic_dec_and_test(&{name}->num_pending)")
                    k.goto(f"next{i}")
                    k.label(f"all{i}")
                    k.dma_fence_get(arr)
                    k.queue_work(work, pass_refs=(arr,))  # enable_signaling returns false: the array signals now
                k.label(f"next{i}")

        def release(k):  # dma_fence_array_release(): drop the members
            for f in members:
                k.dma_fence_put(f)

        arr = self.fence(name, lock=lock, owners=tuple(owners) if created else (), live=created,
                         max_refs=min(8, 2 + 2 * len(members)), release=release, enable_signaling=enable)
        arr.container = True
        arr.array_members = tuple(members)  # type: ignore[attr-defined]
        arr.implied_by = tuple(members)  # dma_fence_array_signaled(): num_pending <= 0

        @self.work(work, kernel="dma_fence_array irq_work: signal the array")
        def signal_array(k):
            k.dma_fence_signal(arr)
            k.dma_fence_put(arr)

        return arr

    def sync_file(self, name: str, fence: Fence) -> tuple[KObject, Slot]:
        """A struct sync_file around ``fence`` (drivers/dma-buf/sync_file.c as a program): a file that owns one
        reference to the fence, dropped by its release; returns the file and the fd slot it is installed in."""
        if not isinstance(fence, Fence) or fence not in self.objects:
            raise ModelError(f"sync_file {name}: {getattr(fence, 'name', fence)!r} is not a fence of this driver")

        def release(k):  # sync_file_release()
            if sf.name in k.b.plan.polled:  # if (test_bit(POLL_ENABLED, ...)) dma_fence_remove_callback(...)
                k.goto_if(k.b.poll_enabled(sf) == 0, "not_polled", f"test_bit(POLL_ENABLED, &{name}->flags)")
                k.dma_fence_remove_callback(fence, sync_file_wake(sf, wq), name=f"{name}.cb")
                k.label("not_polled")
            k.dma_fence_put(fence)

        sf = self.kref(name, kind="file", release=release, kernel="struct sync_file")
        sf.sync_fence = fence  # type: ignore[attr-defined]
        wq = self.waitqueue(f"{name}->wq")
        sf.sync_wq = wq  # type: ignore[attr-defined]
        return sf, self.slot(f"{name}.fd", sf, kind="fd")

    def gem_object(self, name: str, *, handles: int | None = None, max_handles: int = 2,
                   owners: tuple[str, ...] = (), imports: DmaBuf | None = None,
                   import_sg_table: Body | None = None, open: Body | None = None,  # noqa: A002
                   close: Body | None = None) -> GemObject:
        """A struct drm_gem_object with ``handles`` GEM handles at the start (1; of at most ``max_handles``: the
        handle slots ``obj.handles``), which together hold one reference while any exists, and the dma-buf
        PRIME exports it as (``obj.exported``, made by ``k.drm_gem_prime_handle_to_fd``; its release puts
        the object). The calls are the kernel's: ``k.drm_gem_object_lookup``, ``k.drm_gem_object_get/put``,
        ``k.drm_gem_handle_create``, ``k.drm_gem_handle_delete``, ``k.drm_gem_prime_handle_to_fd``,
        ``k.drm_gem_prime_fd_to_handle`` (a self-import: the object gets another handle).

        ``imports=buf``: the object a PRIME import of another device's dma-buf creates (it does not exist
        before ``k.drm_gem_prime_fd_to_handle(fd_of_buf, obj, ...)``): drm_gem_prime_import_dev attaches
        (``obj.import_attach``), takes a dma-buf reference, maps the attachment and calls the driver's
        ``import_sg_table`` body ``(k)`` (gem_prime_import_sg_table, which may ``k.ret("-ENOMEM")``); its
        release (drm_prime_gem_destroy) unmaps, detaches and puts the dma-buf. ``open``/``close``: the
        object's funcs->open (run for each new handle after the idr_alloc; its error removes the handle
        again) and funcs->close (run when a handle goes, before the handle put), bodies ``(k)`` whose
        references are the object's (per-file driver state reached from it).

        The object's parts, for programs that write a call by hand: ``obj.handles`` (idr slots, holding no
        reference of their own), ``obj.handle_count`` (a field), ``obj.handles_ref`` (the holder of the
        handles' one reference), ``obj.dma_buf`` (a pointer), ``obj.exported``, ``obj.table``
        (file->table_lock), ``obj.name_lock`` (dev->object_name_lock), ``obj.prime_lock``, ``obj.import_attach``."""
        if handles is None:
            handles = 0 if imports is not None else 1
        if not isinstance(max_handles, int) or not 1 <= max_handles <= 4 or not 0 <= handles <= max_handles:
            raise ModelError(f"gem_object {name}: 0 <= handles <= max_handles <= 4, got {handles}, {max_handles}")
        if imports is not None and (not isinstance(imports, DmaBuf) or imports not in self.objects):
            raise ModelError(f"gem_object {name}: imports= is a dma-buf of this driver")
        if imports is not None and handles:
            raise ModelError(f"gem_object {name}: an imported object has no handle before its import (handles=0)")
        if handles == 0 and not owners and imports is None:
            raise ModelError(f"gem_object {name}: with no handle someone must hold it: owners=(...)")
        ref = self.holder(f"{name}.handles")  # drm_gem_object_handle_get(): the handles' one reference

        def destroy(k):  # drm_gem_object_free() -> driver free -> drm_prime_gem_destroy()
            k.dma_buf_unmap_attachment(obj.import_attach)
            k.dma_buf_detach(obj.import_attach)
            k.dma_buf_put(imports)

        obj = GemObject(self._new(name, "object"), kind="kref", live=imports is None,
                        owners=tuple(owners) + ((ref,) if handles else ()), max_refs=self._max(name, 4),
                        kernel="struct drm_gem_object", release=destroy if imports is not None else None)
        self.objects.append(obj)
        obj.handles_ref = ref
        obj.handles = tuple(self.slot(f"{name}.handle{i}", obj, kind="idr", installed=i < handles, holds_ref=False)
                            for i in range(max_handles))
        obj.handle_count = self.field(f"{name}->handle_count", max_value=max_handles, init=handles,
                                      kernel="drm_gem_object.handle_count")
        if self._gem_locks is None:  # one DRM device and file: their locks are shared by the objects
            self._gem_locks = (self.spinlock("file->table_lock"), self.mutex("dev->object_name_lock"),
                               self.mutex("file_priv->prime.lock"))
        obj.table, obj.name_lock, obj.prime_lock = self._gem_locks

        def dmabuf_release(k):  # drm_gem_dmabuf_release(): the export's reference to the object
            k.drm_gem_object_put(obj)

        obj.exported = self.dma_buf(f"{name}.dmabuf", ops={"release": dmabuf_release})
        obj.dma_buf = self.pointer(f"{name}->dma_buf", (obj.exported,), of=obj)
        obj.open, obj.close = open, close
        if imports is not None:
            obj.imports = imports
            obj.import_attach = self.attachment(f"{name}->import_attach", imports, owner=name)
            obj.import_sg_table = import_sg_table
        return obj

    def syncobj(self, name: str, fences: tuple[Fence, ...], *, fence: Fence | None = None, handle: bool = True,
                owners: tuple[str, ...] = ()) -> Syncobj:
        """A struct drm_syncobj whose fence pointer may hold any of ``fences`` (``fence``: the one installed at
        the start, or none), with a userspace handle in the file's syncobj_idr (``handle=False``: only
        ``owners`` hold it). Its calls are the kernel's: ``k.drm_syncobj_find``, ``k.drm_syncobj_fence_get``,
        ``k.drm_syncobj_replace_fence``, ``k.drm_syncobj_find_fence``, ``k.drm_syncobj_get/put``,
        ``k.drm_syncobj_destroy``; its release (drm_syncobj_free) drops the fence it holds."""
        if not fences or not all(isinstance(f, Fence) and f in self.objects for f in fences):
            raise ModelError(f"syncobj {name}: fences must be fences of this driver (those it may ever hold)")
        if not handle and not owners:
            raise ModelError(f"syncobj {name}: without a handle someone must hold it: owners=(...)")

        def free(k):  # drm_syncobj_free(): drm_syncobj_replace_fence(syncobj, NULL)
            k.drm_syncobj_replace_fence(so, None)

        so = Syncobj(self._new(name, "object"), kind="kref", live=True, owners=tuple(owners), release=free,
                     max_refs=self._max(name, 4), kernel="struct drm_syncobj")
        self.objects.append(so)
        if self._syncobj_table is None:  # one DRM file's table, shared by its syncobjs
            self._syncobj_table = self.spinlock("file_private->syncobj_table_lock")
        so.table = self._syncobj_table
        so.lock = self.spinlock(f"{name}->lock")
        so.cb_list = self.waitqueue(f"{name}->cb_list")
        so.fence = self.pointer(f"{name}->fence", tuple(fences), init=fence, of=so)
        if handle:
            so.handle = self.slot(f"{name}.handle", so, kind="idr", installed=True)
        return so

    def fence_chain(self, name: str, fence: Fence, prev: Fence | None = None, *, owners: tuple[str, ...] = (),
                    lock: SpinLock | None = None, created: bool = True) -> Fence:
        """A struct dma_fence_chain node (drivers/dma-buf/dma-fence-chain.c as a program): ``fence`` at this
        point of a timeline, after ``prev`` (an earlier chain node, or a plain fence). dma_fence_chain_init()
        takes over a reference to each. The node signals once its own fence and every earlier one signaled:
        the first waiter enables signaling, which puts the node's one callback on the first unsignaled
        fence of the walk (this node's fence, then the earlier nodes'); that callback queues the node's
        irq_work, which re-arms on the next unsignaled fence or signals the node, outside the fence lock.
        ``created=False``: the node does not exist until a thread allocates it (``k.dma_fence_chain_alloc``,
        which may fail) and calls ``k.dma_fence_chain_init``, which takes over that thread's references to
        ``fence`` and ``prev`` (drm_syncobj_add_point, drm_syncobj_transfer_to_timeline)."""
        for f in (fence, prev):
            if f is not None and (not isinstance(f, Fence) or f not in self.objects):
                raise ModelError(f"fence_chain {name}: {getattr(f, 'name', f)!r} is not a fence of this driver")
        if getattr(fence, "chain_walk", None) is not None and created:  # at run time: dma_fence_chain_init's WARN
            raise ModelError(f"fence_chain {name}: its fence {fence.name} is itself a chain node (CONT-2: a chain "
                             "node holds a plain fence, its prev the earlier node)")
        walk = [fence] + (list(getattr(prev, "chain_walk", None) or [prev]) if prev is not None else [])
        for f in (fence, prev):
            if created and f is not None and name not in f.owners:
                f.owners = f.owners + (name,)  # dma_fence_chain_init() takes over the caller's references
        work = f"{name}.work"
        chain: Fence

        def arm(k, armed: str, none: str, start: int = 0) -> None:
            """dma_fence_chain_enable_signaling()'s walk: the node's callback on the first unsignaled fence."""
            for i, f in list(enumerate(walk))[start:]:
                k.goto_if(f.signaled, f"signaled{i}", f"dma_fence_chain_for_each({name}): {f.name} signaled?")
                k.dma_fence_get(chain)  # the callback's reference to the node
                k.dma_fence_add_callback(f, link_cb, name=f"{name}.cb{i}", fail=f"lost{i}", pass_refs=(chain,))
                k.goto(armed)
                k.label(f"lost{i}")  # it signaled meanwhile: on to the next one
                k.dma_fence_put(chain)
                k.label(f"signaled{i}")
            k.goto(none)

        def link_cb(k):  # dma_fence_chain_cb(): under the signalled fence's lock
            k.queue_work(work, pass_refs=(chain,))  # irq_work_queue(&chain->work), with the callback's reference

        def enable(k):  # under the node's lock; returns false when everything signaled: the work signals it
            arm(k, "armed", "none")
            k.label("none")
            k.dma_fence_get(chain)
            k.queue_work(work, pass_refs=(chain,))
            k.label("armed")

        def release(k):  # dma_fence_chain_release(): the earlier node, then this node's fence
            if prev is not None:
                k.dma_fence_put(prev)
            k.dma_fence_put(fence)

        chain = self.fence(name, lock=lock, owners=tuple(owners) if created else (), live=created,
                           max_refs=min(8, 2 + 2 * len(walk)), release=release, enable_signaling=enable)
        chain.container = True
        chain.chain_links = (fence,) + ((prev,) if prev is not None else ())  # type: ignore[attr-defined]
        chain.chain_walk = walk  # type: ignore[attr-defined]
        chain.implied_by = tuple(walk)  # dma_fence_chain_signaled(): every fence of the walk signaled

        def rearm(k):  # dma_fence_chain_irq_work(); queued again by each callback it arms, so it loops
            k.label("again")
            k.work_starts(work)
            k.spin_lock_irqsave(chain.lock)  # dma_fence_chain_enable_signaling() runs under the node's lock
            # a callback fired, so this node's own fence (the walk's first) has signaled: the walk goes on
            arm(k, "armed", "none", start=1)
            k.label("none")
            k.spin_unlock_irqrestore(chain.lock)
            k.dma_fence_signal(chain)  # every fence of the walk signaled
            k.goto("done")
            k.label("armed")
            k.spin_unlock_irqrestore(chain.lock)
            k.label("done")
            k.dma_fence_put(chain)
            k.work_ends(work)
            k.goto("again")
        self._work_thread(self._new(work, "thread"), rearm,
                          "dma_fence_chain_irq_work(): re-arm on the next fence, or signal")

        return chain

    def dma_buf(self, name: str, *, ops: dict[str, Callable] | None = None, dynamic: bool = False,
                live: bool = False, owners: tuple[str, ...] = (), max_refs: int = 4, resv: Resv | None = None) -> DmaBuf:
        """A struct dma_buf with the exporter's ``ops`` (bodies run where the core calls them) and its resv:
        its own, embedded and finished with it, or ``resv``, the exported object's (``exp_info.resv =
        obj->resv``, as drm_gem_prime_export and TTM drivers do), which lives as long as that object."""
        ops = dict(ops or {})
        known = ("attach", "detach", "map", "unmap", "release", "begin_cpu_access", "end_cpu_access", "vmap",
                 "vunmap", "mmap", "pin", "unpin")
        for op in ops:
            if op not in known:
                raise ModelError(f"dma_buf {name}: unknown op {op!r}; dma_buf_ops here: {', '.join(known)}")
        if resv is not None and resv not in self.resvs:
            raise ModelError(f"dma_buf {name}: resv {getattr(resv, 'name', resv)!r} is not a resv of this driver "
                             "(declare it with d.resv(..., of=obj))")
        own = resv is None
        if resv is None:
            resv = Resv(f"{name}.resv")
            self._new(resv.name, "resv")
            self.resvs.append(resv)
        b = DmaBuf(self._new(name, "dma_buf"), live=live, owners=tuple(owners), max_refs=self._max(name, max_refs),
                   ops=ops, resv=resv, dynamic=dynamic, kernel="struct dma_buf")
        if "vmap" in ops or "vunmap" in ops:  # dmabuf->lock: serialises vmap/vunmap before v6.2 (then the resv)
            b.lock = self.mutex(f"{name}->lock", lock_class="dma_buf.lock")
        if own:
            resv.obj = b  # dma_buf_export() embeds it (dmabuf->resv = (struct dma_resv *)&dmabuf[1])
        self.objects.append(b)
        self._deferred_fput(b)  # dma_buf_put() is fput(dmabuf->file): dma_buf_release() runs from __fput()
        return b

    def attachment(self, name: str, buf: DmaBuf, *, dynamic: bool = False, move_notify: Body | None = None,
                   state: str = "NONE", owner: str = "") -> Attachment:
        """An importer's attachment; ``dynamic`` for dma_buf_dynamic_attach, whose importer ops' ``move_notify``
        body runs inside the exporter's dma_buf_move_notify(), with the resv held (DYN-8). ``state`` ATTACHED
        or MAPPED starts it set up by ``owner`` (the thread or holder whose dma-buf reference it relies on)."""
        if buf not in self.objects or not isinstance(buf, DmaBuf):
            raise ModelError(f"attachment {name}: {getattr(buf, 'name', buf)!r} is not a dma_buf of this driver")
        if move_notify is not None and not dynamic:
            raise ModelError(f"attachment {name}: move_notify belongs to a dynamic attachment (dynamic=True)")
        if state not in ("NONE", "ATTACHED", "MAPPED"):
            raise ModelError(f"attachment {name}: state must be NONE, ATTACHED or MAPPED, got {state!r}")
        if state != "NONE" and not (isinstance(owner, str) and owner):
            raise ModelError(f"attachment {name}: an attachment that starts {state} needs owner= (who attached it)")
        if state != "NONE" and not buf.live:
            raise ModelError(f"attachment {name}: starts {state} on {buf.name}, which does not exist yet (live=True)")
        a = Attachment(self._new(name, "attachment"), buf, dynamic=dynamic, move_notify=move_notify, state=state,
                       owner=owner)
        self.attachments.append(a)
        return a

    def resv(self, name: str, *, of: KObject | None = None, fences: dict[Fence, str] | None = None) -> Resv:
        """A struct dma_resv; ``of``: the object that embeds it (bo->base._resv), so a dma_resv call after that
        object was freed is a use-after-free. ``fences``: {fence: usage} already added before the threads
        start (a job submitted earlier, a move's copy): the resv holds a reference to each."""
        if of is not None and of not in self.objects:
            raise ModelError(f"resv {name}: {getattr(of, 'name', of)!r} is not an object of this driver")
        initial = []
        for f, usage in (fences or {}).items():
            if not isinstance(f, Fence) or f not in self.objects:
                raise ModelError(f"resv {name}: fences= takes fences of this driver, got {getattr(f, 'name', f)!r}")
            if usage not in USAGES:
                raise ModelError(f"resv {name}: {f.name}'s usage must be one of {', '.join(USAGES)} (enum "
                                 f"dma_resv_usage), got {usage!r}")
            if not f.live:
                raise ModelError(f"resv {name}: {f.name} is in it at the start, so it exists then: live=True")
            initial.append((f, usage))
        r = Resv(self._new(name, "resv"), of, initial=tuple(initial))
        self.resvs.append(r)
        return r

    def holder(self, name: str) -> str:
        """A long-lived holder of references that no thread of the model drops (a job, the device, a
        file that outlives the run): name it in an object's ``owners``."""
        self.holders.append(self._new(name, "holder"))
        return name

    def field(self, name: str, *, max_value: int = 1, init: int = 0, kernel: str = "") -> Field:
        """Driver state the code paths share: a flag (``max_value=1``) or a counter up to ``max_value``."""
        if isinstance(max_value, bool) or not isinstance(max_value, int) or not 1 <= max_value <= 15:
            raise ModelError(f"field {name}: max_value must be 1..15, got {max_value!r}")
        if isinstance(init, bool) or not isinstance(init, int) or not 0 <= init <= max_value:
            raise ModelError(f"field {name}: init must be 0..{max_value}, got {init!r}")
        f = Field(self._new(name, "field"), max_value, init, kernel)
        self.fields.append(f)
        return f

    def invariant(self, cond: Callable[[], object], text: str) -> None:
        """A condition the driver keeps in every state (what a WARN_ON wherever it could break would say):
        ``cond`` builds it from fields and object states, e.g. ``lambda: ~(sealed.is_set & pinned.is_set)``."""
        if not callable(cond):
            raise ModelError(f"invariant {text!r}: give a function that builds the condition (lambda: ...)")
        self.invariants.append((cond, text))

    def completion(self, name: str) -> Completion:
        c = Completion(self._new(name, "completion"))
        self.completions.append(c)
        return c

    def pointer(self, name: str, targets: tuple[KObject, ...], *, init: KObject | None = None,
                holds_ref: bool = True, of: KObject | None = None) -> Pointer:
        """A pointer field that may point at any of ``targets`` or NULL (``init``: where it points at the start,
        holding that reference when ``holds_ref``). ``k.ptr_xchg``/``k.ptr_store`` write it, ``k.ptr_switch``
        reads it and branches on the object found."""
        if not targets or not all(isinstance(t, KObject) and t in self.objects for t in targets):
            raise ModelError(f"pointer {name}: targets must be objects of this driver")
        if len({t.name for t in targets}) != len(targets):
            raise ModelError(f"pointer {name}: a target is named twice")
        if init is not None and init not in targets:
            raise ModelError(f"pointer {name}: init {getattr(init, 'name', init)!r} is not one of its targets")
        if of is not None and of not in self.objects:
            raise ModelError(f"pointer {name}: of={getattr(of, 'name', of)!r} is not an object of this driver")
        ptr = Pointer(self._new(name, "pointer"), tuple(targets), init, holds_ref, of)
        if init is not None and holds_ref:
            init.owners = init.owners + (name,)  # the pointer's reference at the start
        self.pointers.append(ptr)
        return ptr

    def vma(self, name: str, files: tuple[KObject, ...]) -> Vma:
        """A user mapping (struct vm_area_struct) that may map any of ``files`` (dma-bufs, a driver's own
        file): ``k.mmap(vma, fd_slot, fail=)``, ``k.munmap(vma)``, ``k.vma_set_file(vma, file)``,
        ``k.dma_buf_mmap(buf, vma, fail=)``; ``vma->vm_file`` holds a reference to the file mapped."""
        if not files or not all(isinstance(f, KObject) and f in self.objects and f.kind in ("file", "dma_buf")
                                for f in files):
            raise ModelError(f"vma {name}: files must be files or dma-bufs of this driver (what it may map)")
        ptr = Vma(self._new(f"{name}->vm_file", "pointer"), tuple(files), None, True, None)
        self.pointers.append(ptr)
        return ptr

    def dma_mapping(self, name: str) -> DmaMapping:
        """A streaming DMA mapping (the sg_table an exporter's map op maps for the importer's device): the DMA
        API's rules (DMA-1) apply to ``k.dma_map_sgtable`` / ``k.dma_unmap_sgtable`` / the syncs on it."""
        dm = DmaMapping(self._new(name, "dma mapping"))
        self.dma_mappings.append(dm)
        return dm

    def waitqueue(self, name: str) -> WaitQueue:
        """A wait_queue_head_t: threads sleep in ``k.wait_event(wq, cond)`` until a ``k.wake_up(wq)``."""
        wq = WaitQueue(self._new(name, "waitqueue"))
        self.waitqueues.append(wq)
        return wq

    def mutex(self, name: str, *, lock_class: str = "") -> Mutex:
        lk = Mutex(self._new(name, "lock"), lock_class=lock_class, kernel="struct mutex")
        self.locks.append(lk)
        return lk

    def rwsem(self, name: str, *, lock_class: str = "") -> RwSem:
        """A struct rw_semaphore: ``k.down_read``/``k.up_read`` share it, ``k.down_write``/``k.up_write``
        exclude everyone; a queued writer holds off new readers."""
        lk = RwSem(self._new(name, "lock"), lock_class=lock_class, kernel="struct rw_semaphore")
        self.locks.append(lk)
        return lk

    def mm(self, name: str = "mm->mmap_lock") -> RwSem:
        """The process's mmap_lock as a real rwsem: every copy_from_user/copy_to_user may fault and take it for
        read (blocking behind a writer, queued ones too), ``k.mmap_read_lock``/``k.mmap_write_lock`` take it;
        lockdep's class is the boot-primed mmap_lock."""
        if self.mmap_lock is not None:
            raise ModelError(f"driver {self.name}: mm() declared twice")
        self.mmap_lock = self.rwsem(name, lock_class="mmap_lock")
        return self.mmap_lock

    def spinlock(self, name: str, *, lock_class: str = "") -> SpinLock:
        lk = SpinLock(self._new(name, "lock"), lock_class=lock_class, kernel="spinlock_t")
        self.locks.append(lk)
        return lk

    def slot(self, name: str, obj: KObject, *, kind: str = "fd", installed: bool = False,
             holds_ref: bool = True, lock: Lock | None = None, of: KObject | None = None) -> Slot:
        """Where a published reference lives: an fd, an idr/xarray handle, a list, a pointer field
        (``holds_ref=False``: a list that holds no reference, the object's release unlinks it)."""
        if kind not in SLOT_KINDS:
            raise ModelError(f"slot {name}: kind must be one of {', '.join(SLOT_KINDS)}, got {kind!r}")
        if obj not in self.objects:
            raise ModelError(f"slot {name}: {getattr(obj, 'name', obj)!r} is not an object of this driver")
        if isinstance(lock, Resv):  # state protected by a reservation object: its ww_mutex
            lock = lock.lock
        if lock is not None and lock not in self.locks and not any(lock is r.lock for r in self.resvs):
            raise ModelError(f"slot {name}: its lock {getattr(lock, 'name', lock)!r} is not declared on this driver")
        if of is not None and of not in self.objects:
            raise ModelError(f"slot {name}: of={getattr(of, 'name', of)!r} is not an object of this driver")
        s = Slot(self._new(name, "slot"), obj, kind=kind, installed=installed, holds_ref=holds_ref, lock=lock, of=of)
        self.slots.append(s)
        return s

    # ---- threads ------------------------------------------------------------------
    def thread(self, name: str, *, context: str = "process", args: tuple = (), env: bool = False,
               kernel: str = "") -> Callable[[Body], Body]:
        """Decorator: ``body(k, *args)`` is a thread (an ioctl, a work item, an IRQ handler with
        ``context="irq"``, a shrinker with ``context="reclaim"``)."""
        if context not in CONTEXTS:
            raise ModelError(f"thread {name}: context must be one of {', '.join(CONTEXTS)}, got {context!r}")

        def add(body: Body) -> Body:
            if not callable(body):
                raise ModelError(f"thread {name}: its body must be a function of the builder")
            self.threads.append(ThreadDecl(self._new(name, "thread"), body, context, env, kernel, tuple(args)))
            return body
        return add

    def irq(self, name: str, **kw) -> Callable[[Body], Body]:
        return self.thread(name, context="irq", **kw)

    def userspace(self, name: str, **kw) -> Callable[[Body], Body]:
        """An environment thread: userspace that may run its calls at any moment, or never."""
        return self.thread(name, env=True, **kw)

    def work(self, name: str, **kw) -> Callable[[Body], Body]:
        """A work item: it runs in process context once some call does ``k.queue_work(name)``."""
        def add(body: Body) -> Body:
            def run(k, *args):
                k.work_starts(name)
                body(k, *args)
                k.work_ends(name)
            run.__name__ = getattr(body, "__name__", name)
            self.thread(name, env=True, **kw)(run)
            self.threads[-1].work = True
            return body
        return add

    def timer(self, name: str, *, irqsafe: bool = False, **kw) -> Callable[[Body], Body]:
        """A timer callback (timer_setup): it runs in softirq context once armed with ``k.mod_timer(name)``
        (or ``k.add_timer``); ``k.timer_delete_sync(name)`` waits for a running callback, ``k.timer_delete``
        does not. ``irqsafe``: TIMER_IRQSAFE, whose callback runs with interrupts off and whose
        timer_delete_sync may be called from IRQ context."""
        self.timers[name] = irqsafe
        return self.work(name, context="irq" if irqsafe else "softirq", **kw)

    def irq_work(self, name: str, **kw) -> Callable[[Body], Body]:
        """An irq_work callback: it runs in hard IRQ context once ``k.irq_work_queue(name)`` queued it."""
        return self.work(name, context="irq", **kw)

    def shrinker(self, name: str, **kw) -> Callable[[Body], Body]:
        """Reclaim calling the driver's shrinker (under fs_reclaim), at any moment or never."""
        return self.thread(name, context="reclaim", env=True, **kw)

    def core(self, name: str) -> Callable[[Body], Body]:
        """Decorator: replace one call of the dma-buf core, to check a proposed change of dma-buf.c against
        this driver. ``body(k, *args, default, **kwargs)`` gets the call's arguments and ``default()``, the
        built-in body (call it to wrap the change around the current core)."""
        if name not in CORE_CALLS:
            raise ModelError(f"core call {name!r}: one of {', '.join(CORE_CALLS)}")

        def add(body: Body) -> Body:
            if not callable(body):
                raise ModelError(f"core call {name}: the replacement must be a function of the builder")
            self.core_calls[name] = body
            return body
        return add

    # ---- environment actors a driver switches on ---------------------------------------
    def userspace_closes_fds(self) -> None:
        """Userspace may close every fd the driver publishes, at any moment (one ``close`` thread per fd slot)."""
        for s in list(self.slots):
            if s.kind != "fd":
                continue

            def close(k, s=s):
                k.close(s)
            self.thread(f"close_{s.name}", env=True, kernel=f"userspace: close({s.name})")(close)

    def list_readers(self) -> None:
        """A reader walks every published list (and pointer) slot under its lock and dereferences what it finds
        (debugfs, sysfs stats, a lookup): one thread per slot declared with ``lock=``."""
        for s in list(self.slots):
            if s.lock is None or s.kind not in ("list", "ptr", "idr", "xarray"):
                continue

            def reader(k, s=s):
                k.mutex_lock(s.lock) if s.lock.sleeps else k.spin_lock(s.lock)
                k.peek(s, fail="empty")
                k.use(s.obj, f"reader: {s.obj.name}->...")
                k.label("empty")
                k.mutex_unlock(s.lock) if s.lock.sleeps else k.spin_unlock(s.lock)
            self.thread(f"read_{s.name}", env=True, kernel=f"a reader of {s.name}")(reader)

    def gpu(self, name: str, *, signals: Fence, after: tuple[Fence, ...] = (), drops_ref: bool = True,
            accesses: tuple[KObject, ...] = ()) -> None:
        """The GPU scheduler's run/complete path for one job: once every fence in ``after`` has signaled the job
        runs, and its fence ``signals`` from the completion interrupt (dropping the scheduler's reference).
        ``accesses``: the objects the job's device reads and writes from the moment it runs until ``signals``
        signals (its BOs); freeing one in between is DMA into freed memory (dma-after-free). A fence a thread
        creates at run time (``live=False``) is waited for: the job runs once it is initialised, and the
        scheduler takes its own reference then."""
        for f in (signals, *after):
            if not isinstance(f, Fence) or f not in self.objects:
                raise ModelError(f"gpu {name}: {getattr(f, 'name', f)!r} is not a fence of this driver")
        for obj in accesses:
            if not isinstance(obj, KObject) or obj not in self.objects:
                raise ModelError(f"gpu {name}: accesses: {getattr(obj, 'name', obj)!r} is not an object of this driver")

        def job(k):
            for f in (signals, *after):
                if not f.live:  # a fence a thread creates: the job is pushed to the scheduler once it exists
                    k._await(f.alive, f"drm_sched_entity_push_job(): the job is queued once {f.name} is initialised")
            if not signals.live and drops_ref:
                k.dma_fence_get(signals, f"drm_sched_entity_push_job(): the scheduler's reference to {signals.name}")
            for dep in after:
                k.dma_fence_wait(dep)  # drm_sched: the job's dependencies (the scheduler thread waits via callbacks)
            for obj in accesses:
                k.device_access(obj, until=signals, text=f"run_job(): the device accesses {obj.name}")
            k.dma_fence_signal(signals)
            if drops_ref:
                k.dma_fence_put(signals)
        self.thread(name, context="irq" if not after else "process", kernel="drm_sched run_job + completion")(job)
        self.threads[-1].where = declared_at()
        LIBRARY_BODIES.add(job.__code__)

    # ---- building -----------------------------------------------------------------
    def _max(self, name: str, n: object) -> int:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 8:
            raise ModelError(f"{name}: max_refs must be 1..8, got {n!r}")
        return n

    def validate(self) -> None:
        if not self.threads:
            raise ModelError(f"driver {self.name}: no threads (declare code paths with @driver.thread)")
        for group, what in ((self.objects, "object"), (self.locks, "lock"), (self.slots, "slot"),
                            (self.resvs, "resv"), (self.attachments, "attachment"), (self.threads, "thread"),
                            (self.fields, "field"), (self.completions, "completion"), (self.waitqueues, "waitqueue"),
                            (self.pointers, "pointer"), (self.dma_mappings, "dma mapping")):
            for x in group:
                check_fields(x, what)
        names = ({t.name for t in self.threads} | {o.name for o in self.objects} | set(self.holders)
                 | {p.name for p in self.pointers})
        for o in self.objects:
            for owner in o.owners:
                if owner not in names:
                    raise ModelError(f"{o.name}: owner {owner!r} is not a thread, an object or a holder of this driver "
                                     "(declare long-lived holders with driver.holder(name))")

    def build(self, kernel: str | None = None):
        """The model and the checks of this driver under a kernel generation (``model.driver.compile``)."""
        from dmabuf_check.model.driver.compile import compile_driver

        self.validate()
        self._fput_threads()
        return compile_driver(self, kernel)
