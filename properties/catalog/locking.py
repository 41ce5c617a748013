"""Locks, waits and signalling sections (LOCK, SIG, MEM, RESV-W/L, DL rules).

These read the lock metadata of the actions (``holds``/``acquires``): a step
that is about to take a lock lower in the primed order than one it holds,
a lock it holds already, or (inside a fence signalling section) a resv
lock, an allocation that may recurse into reclaim, or a fence wait. The
wait-for cycle property is R1's, derived from the lock and wait
declarations of the model (``properties.waitfor``).
"""

from __future__ import annotations

from dmabuf_check.model.components.context import PRIMED_ORDER, TRANSIENT, BuildInfo, StepInfo
from dmabuf_check.model.expr import Expr
from dmabuf_check.model.lang import Model
from dmabuf_check.properties import waitfor
from dmabuf_check.properties.base import DEADLOCK
from dmabuf_check.properties.catalog.base import Rule, any_step

SIGNALLING = "dma_fence_map"


def _class(info: BuildInfo, name: str) -> str:
    lk = info.locks.get(name)
    if lk is not None and lk.lock_class == "reservation_ww_class_mutex":
        return "resv"
    return name


def _inversions(info: BuildInfo, s: StepInfo) -> list[tuple[str, str]]:
    """(held, acquired) pairs of the step that go against the primed order RESV-L1."""
    out = []
    held = [h for h in s.action.holds if h != SIGNALLING]
    for a in s.action.acquires:
        ca = _class(info, a)
        for h in held:
            ch = _class(info, h)
            if ca in PRIMED_ORDER and ch in PRIMED_ORDER and PRIMED_ORDER.index(ca) < PRIMED_ORDER.index(ch):
                out.append((h, a))
        if a not in TRANSIENT:
            held.append(a)
    return out


def _recursions(info: BuildInfo, s: StepInfo) -> list[str]:
    held = list(s.action.holds)
    out = []
    for a in s.action.acquires:
        if a in TRANSIENT:
            continue
        if a in held:
            out.append(a)
        held.append(a)
    return out


def _about_to(m: Model, steps: list[StepInfo]) -> Expr:
    return any_step(m, steps, lambda s: s.at)


def lock_order(m: Model, info: BuildInfo) -> Expr:
    return ~_about_to(m, [s for s in info.steps if _inversions(info, s)])


def no_recursive_lock(m: Model, info: BuildInfo) -> Expr:
    return ~_about_to(m, [s for s in info.steps if _recursions(info, s)])


def _in_signalling(s: StepInfo) -> bool:
    """A step of a fence signalling path: tagged so by the builder (in every generation: SIG-3 is about what
    the path does), or annotated for lockdep (dma_fence_begin_signalling, v5.9 on)."""
    return "signalling" in s.tags or SIGNALLING in s.action.holds


def _waits_in_signalling(s: StepInfo) -> bool:
    return _in_signalling(s) and ("fence_wait" in s.tags or SIGNALLING in s.action.acquires)


def sig_no_resv(m: Model, info: BuildInfo) -> Expr:
    return ~_about_to(m, [s for s in info.steps if _in_signalling(s)
                          and any(_class(info, a) == "resv" for a in s.action.acquires)])


def sig_no_alloc(m: Model, info: BuildInfo) -> Expr:
    return ~_about_to(m, [s for s in info.steps if _in_signalling(s)
                          and any(a in ("fs_reclaim", "mmu_notifier") for a in s.action.acquires)])


def sig_no_wait(m: Model, info: BuildInfo) -> Expr:
    return ~_about_to(m, [s for s in info.steps if _waits_in_signalling(s)])


def ww_backoff(m: Model, info: BuildInfo) -> Expr:
    return ~_about_to(m, info.with_tag("lock_slow_holding"))


def _any(pred):
    return lambda m, info: any(pred(info, s) for s in info.steps)


RULES = (
    Rule("no-fence-wait-deadlock", "no cycle in the wait-for graph (waiter -> fence or lock -> holder or signaller)",
         ("DL-1", "DL-2", "DL-5", "DL-14", "SIG-3"),
         "dma-fence.c DOC 'fence cross-driver contract' and 'fence signalling annotation'; ww-mutex-design.rst",
         lambda m, info: waitfor.no_cycle(m)),
    Rule("no-recursive-lock", "no thread blocks on a lock it already holds (self-deadlock)",
         ("DL-14", "LOCK-4", "RESV-W4", "DL-9"), "DOC 'locking convention' (exporter callbacks called with resv "
         "held must not take it); dma_resv_lock() with a NULL context", no_recursive_lock,
         present=_any(lambda info, s: bool(_recursions(info, s)))),
    Rule("lock-order", "no thread takes a lock that the primed lockdep order puts outside one it holds "
         "(mmap_lock -> ww_acquire -> resv -> fs_reclaim -> mmu_notifier -> dma_fence_map)",
         ("RESV-L1", "RESV-L2", "DL-6", "DL-7"), "dma_resv_lockdep() in drivers/dma-buf/dma-resv.c",
         lock_order, applies=lambda p: p.fences, present=_any(lambda info, s: bool(_inversions(info, s)))),
    Rule("sig-no-resv-lock", "a fence signalling path takes no dma_resv lock", ("SIG-3", "DL-8", "DL-2"),
         "dma-fence.c DOC 'fence cross-driver contract'; commit 'dma-fence: prime lockdep annotations'",
         sig_no_resv, applies=lambda p: p.fences,
         present=_any(lambda info, s: _in_signalling(s) and any(_class(info, a) == "resv" for a in s.action.acquires))),
    Rule("sig-no-alloc", "a fence signalling path does not allocate memory that may enter reclaim (GFP_KERNEL/NOFS/NOIO)",
         ("SIG-3", "MEM-1", "MEM-2", "DL-3", "DL-4"), "dma-fence.c DOC 'fence cross-driver contract'",
         sig_no_alloc, applies=lambda p: p.fences,
         present=_any(lambda info, s: _in_signalling(s)
                      and any(a in ("fs_reclaim", "mmu_notifier") for a in s.action.acquires))),
    Rule("sig-no-fence-wait", "a fence signalling path does not wait on another fence", ("SIG-3", "DL-12"),
         "dma-fence.c __dma_fence_might_wait(); DOC 'fence signalling annotation'", sig_no_wait,
         applies=lambda p: p.fences,
         present=_any(lambda info, s: _waits_in_signalling(s))),
    Rule("ww-backoff", "after -EDEADLK a ww transaction drops every lock before lock_slow", ("RESV-W2", "DL-5"),
         "dma_resv_lock() kernel-doc; Documentation/locking/ww-mutex-design.rst", ww_backoff,
         applies=lambda p: p.fences, present=lambda m, info: bool(info.with_tag("lock_slow_holding"))),
    Rule("no-stuck-state", "every state where no action is enabled is a valid end state (every buffer released)",
         ("DL-1", "REF-8"), "spec/rules.md section 17 (deadlock patterns); dma_buf_release()", kind=DEADLOCK),
)
