"""Reject incomplete or inconsistent designs before any search, naming the field and the rule.

Every check raises ``ModelError("design NAME: FIELD: problem (RULE)")``; the
command line prints it as one line and exits 2. The checks are about the
design being well formed for the chosen protocol generation (the ops exist
in it, every lock it names exists, no order names a lock twice, types are
right); whether the design *keeps* the protocol is what the model checker
decides afterwards.
"""

from __future__ import annotations

import dataclasses
import re

from dmabuf_check.model.design import (
    ALLOC_POINTS,
    GFP,
    KINDS,
    MAX_IMPORTERS,
    MAX_NAME,
    OPS,
    PLACEMENTS,
    REQUIRED,
    USAGES,
    Design,
    Evict,
    Importer,
    Move,
    Op,
    Signalling,
    Submit,
)
from dmabuf_check.model.profiles import Profile
from dmabuf_check.model.types import ModelError

PSEUDO = ("fs_reclaim", "mmap_lock", "dma_fence_map", "mmu_notifier", "ww_acquire")
RESV_NAMES = ("resv", "resv_other")
NAME = re.compile(rf"^[a-z0-9][a-z0-9._-]{{0,{MAX_NAME - 1}}}$")
LOCK_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class _Checker:
    def __init__(self, d: object, p: Profile):
        self.p = p
        self.name = getattr(d, "name", "?") if isinstance(getattr(d, "name", None), str) else "?"

    def fail(self, field: str, problem: str, rule: str) -> None:
        raise ModelError(f"design {self.name}: {field}: {problem} ({rule})")

    # ---- small type checks -----------------------------------------------
    def is_bool(self, field: str, v: object, rule: str) -> None:
        if not isinstance(v, bool):
            self.fail(field, f"must be True or False, got {v!r}", rule)

    def is_str_tuple(self, field: str, v: object, rule: str) -> tuple[str, ...]:
        if not isinstance(v, tuple) or not all(isinstance(x, str) for x in v):
            self.fail(field, f"must be a tuple of names, got {v!r}", rule)
        return v  # type: ignore[return-value]

    def choice(self, field: str, v: object, allowed: tuple, rule: str, optional: bool = False) -> None:
        if optional and v is None:
            return
        if v not in allowed:
            self.fail(field, f"must be one of {', '.join(map(str, allowed))}{' or None' if optional else ''}, "
                             f"got {v!r}", rule)

    def dataclass_of(self, field: str, v: object, cls: type, rule: str, optional: bool = True) -> None:
        if optional and v is None:
            return
        if not isinstance(v, cls):
            self.fail(field, f"must be a {cls.__name__}(...), got {type(v).__name__}", rule)

    # ---- locks -----------------------------------------------------------
    def locks(self, field: str, v: object, d: Design) -> tuple[str, ...]:
        names = self.is_str_tuple(field, v, "LOCK-3")
        seen: set[str] = set()
        for n in names:
            if n in seen:
                self.fail(field, f"names lock {n!r} twice; a lock order takes each lock once", "RESV-L1")
            seen.add(n)
            if n in PSEUDO:
                self.fail(field, f"{n!r} is a lockdep pseudo-lock; say allocates=/faults=/waits= instead", "RESV-L1")
            if n in RESV_NAMES:
                if not self.p.fences:
                    self.fail(field, f"the {self.p.name} contract has no reservation object ({n}); dma_resv on "
                                     "dma-bufs came later", "HIST-3")
                if n == "resv_other" and d.buffers != 2:
                    self.fail(field, "resv_other needs a two-buffer design (Design.buffers = 2)", "RESV-W1")
            elif n not in d.locks:
                self.fail(field, f"unknown lock {n!r}; declare driver locks in Design.locks "
                                 f"(known: {', '.join(('resv',) + d.locks)})", "LOCK-3")
        if d.lock_order:
            ranked = [n for n in names if n in d.lock_order]
            if ranked != sorted(ranked, key=d.lock_order.index):
                self.fail(field, f"takes {' then '.join(ranked)}, against Design.lock_order "
                                 f"({' before '.join(d.lock_order)})", "RESV-L1")
        return names

    def usage(self, field: str, v: object, rule: str, optional: bool = True) -> None:
        self.choice(field, v, USAGES, rule, optional)
        if v is not None and not self.p.fences:
            self.fail(field, f"the {self.p.name} contract has no fences to wait for", "HIST-3")

    def gfp(self, field: str, v: object) -> None:
        self.choice(field, v, GFP, "MEM-1", optional=True)


def validate(d: object, p: Profile) -> None:
    """Raise ModelError naming the field and the rule for the first problem of design ``d`` under profile ``p``."""
    c = _Checker(d, p)
    if not isinstance(d, Design):
        raise ModelError(f"DESIGN must be a dmabuf_check.model.design.Design(...), got {type(d).__name__}")
    if not isinstance(d.name, str) or not NAME.match(d.name):
        shown = d.name[:70] if isinstance(d.name, str) else d.name
        c.fail("name", f"must be a short lower-case name like 'my-heap', {MAX_NAME} characters at most, got "
                       f"{shown!r}", "REF-1")
    from dmabuf_check.model.profiles import PROFILES

    if d.kernel not in PROFILES:
        c.fail("kernel", f"unknown protocol generation {d.kernel!r} (known: {', '.join(PROFILES)})", "HIST-1")
    for f in ("follows", "title"):
        if not isinstance(getattr(d, f), str):
            c.fail(f, f"must be a string, got {getattr(d, f)!r}", "REF-1")
    _locks_decl(c, d)
    _ops(c, d, p)
    _placement(c, d, p)
    _importers(c, d, p)
    _exporter_work(c, d, p)


def _locks_decl(c: _Checker, d: Design) -> None:
    names = c.is_str_tuple("locks", d.locks, "LOCK-3")
    for n in names:
        if n in RESV_NAMES or n in PSEUDO:
            c.fail("locks", f"{n!r} is not a driver lock name (it is reserved)", "LOCK-3")
        if not LOCK_NAME.match(n):
            c.fail("locks", f"{n!r} is not a valid lock name (letters, digits, _)", "LOCK-3")
    if len(set(names)) != len(names):
        c.fail("locks", "declares a lock twice", "LOCK-3")
    order = c.is_str_tuple("lock_order", d.lock_order, "RESV-L1")
    if len(set(order)) != len(order):
        c.fail("lock_order", "names a lock twice", "RESV-L1")
    for n in order:
        if n not in names and n not in RESV_NAMES:
            c.fail("lock_order", f"unknown lock {n!r}", "RESV-L1")


def _op(c: _Checker, d: Design, key: str, op: object) -> None:
    field = f"ops[{key!r}]"
    c.dataclass_of(field, op, Op, "REF-1", optional=False)
    assert isinstance(op, Op)
    c.locks(f"{field}.locks", op.locks, d)
    c.usage(f"{field}.waits", op.waits, "MIG-6")
    c.gfp(f"{field}.allocates", op.allocates)
    c.is_bool(f"{field}.pins", op.pins, "MIG-4")
    c.is_bool(f"{field}.faults", op.faults, "RESV-L2")
    if op.code is not None:
        _op_code(c, d, key, op, field)
    # a flag the op cannot honour is refused, never silently ignored (it would change no state and no verdict)
    if op.pins and key not in ("attach", "vmap"):
        hint = " (a static exporter whose map pins: Design.map_pins)" if key == "map" else ""
        c.fail(f"{field}.pins", f"only attach (pinned until detach) and vmap (until vunmap) pin{hint}", "MIG-4")
    if op.waits and key == "release":
        c.fail(f"{field}.waits", "the release waits for nothing in this model (the buffer's fences are done when its "
               "last reference goes); describe the wait on Move or Submit", "REF-8")


def _op_code(c: _Checker, d: Design, key: str, op: Op, field: str) -> None:
    """An op written as code: its steps name known locks, usages and GFP flags, unlock only what they hold."""
    if not callable(op.code):
        c.fail(f"{field}.code", f"must be a function of the OpCode builder, got {type(op.code).__name__}", "REF-1")
    if op.locks or op.waits or op.faults:
        c.fail(f"{field}.code", "give the callback's locks, waits and faults either as flags or as code, not both",
               "REF-1")
    try:
        steps = op.steps()
    except ModelError:
        raise
    except Exception as e:  # the design author's own code: one line
        c.fail(f"{field}.code", f"raised {type(e).__name__}: {e}", "REF-1")
    held: list[str] = []
    for kind, arg in steps:
        if kind in ("lock", "unlock"):
            c.locks(f"{field}.code", (arg,), d)
            if kind == "lock":
                held.append(arg)  # type: ignore[arg-type]
            elif arg not in held:
                c.fail(f"{field}.code", f"unlocks {arg!r}, which it does not hold", "LOCK-3")
            else:
                held.remove(arg)  # type: ignore[arg-type]
        elif kind == "wait":
            c.usage(f"{field}.code", arg, "MIG-6")
        elif kind == "alloc":
            c.gfp(f"{field}.code", arg)
    if sum(1 for kind, _ in steps if kind == "core") > 1:
        c.fail(f"{field}.code", "calls k.core() more than once", "REF-1")


def _ops(c: _Checker, d: Design, p: Profile) -> None:
    if not isinstance(d.ops, dict):
        c.fail("ops", f"must be a dict of op name -> Op(...), got {type(d.ops).__name__}", "REF-1")
    for key, op in d.ops.items():
        if key not in OPS:
            c.fail("ops", f"unknown op {key!r}; dma_buf_ops a design can implement: {', '.join(OPS)}", "REF-1")
        _op(c, d, key, op)
    for key in REQUIRED:
        if key not in d.ops:
            c.fail("ops", f"has no {key!r} op; dma_buf_export() needs map_dma_buf, unmap_dma_buf and release",
                   "REF-1")
    if ("pin" in d.ops) != ("unpin" in d.ops):
        c.fail("ops", "pin and unpin must both be present or both absent", "REF-2")
    c.is_bool("cache_sgt_mapping", d.cache_sgt_mapping, "MAP-11")
    if d.cache_sgt_mapping is True and "pin" in d.ops:
        c.fail("cache_sgt_mapping", "a cache_sgt_mapping exporter must not have pin/unpin (dma_buf_export() "
               "refuses the pair: 'mutually exclusive with cache_sgt_mapping')", "REF-2")
    if d.cache_sgt_mapping is True and p.sgt_cache == "absent":
        c.fail("cache_sgt_mapping", f"the {p.name} contract has no cache_sgt_mapping (it came in v5.3: "
               "'dma-buf: add dynamic caching of sg_table')", "MAP-11")
    if "pin" in d.ops and not p.dynamic:
        c.fail("ops['pin']", f"the {p.name} contract has no pin/unpin (dynamic dma-buf came in v5.7)", "HIST-4")
    # begin/end_cpu_access and vunmap are optional one by one: dma_buf_begin/end_cpu_access() and
    # dma_buf_vunmap() call the op only if the exporter has it (amdgpu has begin_cpu_access and no
    # end_cpu_access); vunmap without vmap is never called, since dma_buf_vmap() fails with -EINVAL.
    cpu_ops = [k for k in ("begin_cpu_access", "end_cpu_access", "vmap", "vunmap") if k in d.ops]
    if cpu_ops and not p.cpu_access:
        c.fail(f"ops[{cpu_ops[0]!r}]", f"the {p.name} contract has no CPU access by importers", "HIST-2")
    if "mmap" in d.ops and not p.mmap_op:
        c.fail("ops['mmap']", f"the {p.name} contract has no mmap op (dma_buf_ops.mmap came in v3.5: "
               "4c78513e457f 'dma-buf: mmap support')", "HIST-3")


def _placement(c: _Checker, d: Design, p: Profile) -> None:
    pl = c.is_str_tuple("placements", d.placements, "MIG-3")
    if not pl:
        c.fail("placements", "needs at least one placement", "MIG-3")
    for x in pl:
        if x not in PLACEMENTS:
            c.fail("placements", f"unknown placement {x!r} (known: {', '.join(PLACEMENTS)})", "MIG-3")
    if len(set(pl)) != len(pl):
        c.fail("placements", "names a placement twice", "MIG-3")
    c.choice("allocate", d.allocate, ALLOC_POINTS, "MAP-13")
    c.is_bool("map_pins", d.map_pins, "MAP-8")
    c.is_bool("p2p", d.p2p, "DYN-10")
    c.is_bool("shared_resv", d.shared_resv, "REF-4")
    c.is_bool("refuse_attach_after_map", d.refuse_attach_after_map, "MIG-2")
    c.is_bool("vmap_counted", d.vmap_counted, "CPU-7")
    if "VRAM" in pl and "SYS" not in pl:
        c.fail("placements", "a VRAM-only buffer cannot be mapped by non-p2p importers; add SYS", "DYN-10")
    c.dataclass_of("move", d.move, Move, "MIG-3")
    if d.move is not None:
        mv = d.move
        if len(pl) < 2:
            c.fail("move", "a move needs a second placement (Design.placements)", "MIG-3")
        c.locks("move.locks", mv.locks, d)
        if p.migration == "notify" and "resv" not in mv.locks:
            c.fail("move.locks", "a move must hold the buffer's resv lock", "MIG-3")
        c.is_bool("move.notify", mv.notify, "MIG-5")
        c.usage("move.waits", mv.waits, "MIG-6")
        c.is_bool("move.respects_pins", mv.respects_pins, "MIG-4")
        c.gfp("move.allocates", mv.allocates)
        c.is_bool("move.pipelined", mv.pipelined, "MIG-6")
        c.choice("move.fence_usage", mv.fence_usage, USAGES, "RESV-U1")
        if mv.pipelined and not p.fences:
            c.fail("move.pipelined", f"the {p.name} contract has no fences to pipeline a move behind", "HIST-3")
        if mv.notify and p.migration == "notify" and not d.dynamic:
            c.fail("move.notify", "only a dynamic exporter (pin/unpin) can move a mapped buffer with move_notify",
                   "DYN-1")


def _importers(c: _Checker, d: Design, p: Profile) -> None:
    kinds = c.is_str_tuple("kinds", d.kinds, "DYN-1")
    if not kinds:
        c.fail("kinds", "needs at least one importer kind", "DYN-1")
    for k in kinds:
        if k not in KINDS:
            c.fail("kinds", f"unknown importer kind {k!r} (known: {', '.join(KINDS)})", "DYN-1")
        if k in ("dynamic", "p2p") and not p.dynamic:
            c.fail("kinds", f"the {p.name} contract has no dynamic importers (v5.7)", "HIST-4")
        if k == "cpu" and not p.cpu_access:
            c.fail("kinds", f"the {p.name} contract has no CPU-access importers", "HIST-2")
    if "p2p" in kinds and not d.p2p:
        c.fail("kinds", "p2p importers need an exporter that hands out peer-to-peer mappings (Design.p2p)",
               "DYN-10")
    if "cpu" in kinds and "vmap" not in d.ops and "mmap" not in d.ops:
        c.fail("kinds", "cpu importers need a vmap or mmap op to reach the buffer", "CPU-7")
    if not isinstance(d.mix, dict) or not all(isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool)
                                              for k, n in d.mix.items()):
        c.fail("mix", f"must be a dict of kind -> number, got {d.mix!r}", "DYN-1")
    for k, n in d.mix.items():
        if k not in kinds:
            c.fail("mix", f"kind {k!r} is not in Design.kinds", "DYN-1")
        if n < 0:
            c.fail("mix", f"{k}={n} is negative", "DYN-1")
    if sum(d.mix.values()) < 1:
        c.fail("mix", "needs at least one importer", "DYN-1")
    if sum(d.mix.values()) > MAX_IMPORTERS:  # checked before the mix is expanded to a list of kinds
        c.fail("mix", f"at most {MAX_IMPORTERS} importers, got {sum(d.mix.values())}", "DYN-1")
    if not isinstance(d.buffers, int) or isinstance(d.buffers, bool) or d.buffers not in (1, 2):
        c.fail("buffers", f"must be 1 or 2, got {d.buffers!r}", "RESV-W1")
    if d.shared_resv and d.buffers != 2:
        c.fail("shared_resv", "two buffers can share a resv only in a two-buffer design", "REF-4")
    c.dataclass_of("importer", d.importer, Importer, "DYN-1", optional=False)
    for f in dataclasses.fields(Importer):
        v = getattr(d.importer, f.name)
        if f.name == "ww_backoff":
            c.choice("importer.ww_backoff", v, ("release", "keep", "ignore"), "RESV-W2")
        else:
            c.is_bool(f"importer.{f.name}", v, "DYN-1")


def _exporter_work(c: _Checker, d: Design, p: Profile) -> None:
    c.dataclass_of("submit", d.submit, Submit, "RESV-A1")
    if d.submit is not None:
        s = d.submit
        if not p.fences:
            c.fail("submit", f"the {p.name} contract has no fences to publish", "HIST-3")
        c.locks("submit.locks", s.locks, d)
        if "resv" not in s.locks:
            c.fail("submit.locks", "adding a fence needs the buffer's resv lock", "RESV-A1")
        c.choice("submit.usage", s.usage, USAGES, "SYNC-1")
        c.is_bool("submit.reserve_first", s.reserve_first, "RESV-A1")
        c.is_bool("submit.faults", s.faults, "RESV-L2")
        c.gfp("submit.allocates", s.allocates)
    c.dataclass_of("evict", d.evict, Evict, "RESV-W4")
    if d.evict is not None:
        ev = d.evict
        if d.buffers != 2:
            c.fail("evict", "evicting another buffer needs a two-buffer design (Design.buffers = 2)", "RESV-W1")
        names = c.locks("evict.locks", ev.locks, d)
        if "resv" not in names or "resv_other" not in names:
            c.fail("evict.locks", "an eviction locks both buffers' resvs (resv and resv_other)", "RESV-W1")
        c.is_bool("evict.ww", ev.ww, "RESV-W4")
        if "VRAM" not in d.placements or d.move is None:
            c.fail("evict", "eviction moves a buffer out of VRAM: needs VRAM placement and a move", "MIG-3")
    c.dataclass_of("signalling", d.signalling, Signalling, "SIG-1")
    if d.signalling is not None:
        sg = d.signalling
        publishes = p.fences and ((d.move is not None and d.move.pipelined) or d.submit is not None)
        if not publishes:
            c.fail("signalling", "the exporter publishes no fences (no pipelined move, no submit) to signal",
                   "SIG-1")
        c.locks("signalling.locks", sg.locks, d)
        c.gfp("signalling.allocates", sg.allocates)
        c.is_bool("signalling.waits", sg.waits, "SIG-3")
        c.is_bool("signalling.in_order", sg.in_order, "FENCE-3")
