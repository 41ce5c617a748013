"""Export a trace as a KUnit suite: an out-of-tree kernel module that replays the counterexample in-kernel.

A kernel selftest drives uAPI only; a trace of in-kernel dma-buf calls is
reproduced the way drivers/dma-buf/ and drivers/gpu/drm/*/tests/ do it: a
KUnit case (``KUNIT_CASE``) in a module. The generated file has

- a test exporter: ``dma_buf_ops`` stubs named after the design's callbacks
  (``<model>_attach``, ``<model>_map_dma_buf`` ...), each with a TODO naming
  the driver hook that belongs there, and test fences whose ``release`` only
  marks them freed, so a use-after-free is checked instead of committed;
- one ``kthread_run`` thread per actor of the trace, making the trace's calls
  with the real in-kernel API (dma_buf_attach, dma_buf_map_attachment_unlocked,
  dma_resv_lock, dma_fence_signal ...); a step that is driver code rather than a
  core call becomes a named hook (``<model>_<action>()``) with a TODO;
- a ``struct completion`` per call: at every hand-off between threads the next
  thread waits for the previous call, so the calls run exactly in trace order
  (a model step inside a core call cannot be interleaved from outside, so the
  sub-steps of one call run as that one call, and the file says so);
- the calls the model says never complete (a wait-for cycle), issued after the
  trace with a timeout, so a deadlock is a failed expectation, not a hung test;
- the violated property as ``KUNIT_EXPECT_*``: the model's predicate compiled
  to C over observed state, plus ``debug_locks`` for lockdep properties and
  the freed-fence check for use-after-free (KASAN's report, named in a comment).

``to_kbuild``/``to_makefile`` give the build files for ``-o DIR`` output.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

from dmabuf_check.model.types import EnumType, RangeType
from dmabuf_check.properties.base import DEADLOCK, Property
from dmabuf_check.traces.evaluate import Judge, format_call
from dmabuf_check.traces.explain import explain
from dmabuf_check.traces.export_kselftest import ascii_text, c_string, property_c
from dmabuf_check.traces.export_kselftest import c_comment as _c_comment
from dmabuf_check.traces.export_kselftest import comment_block as _comment_block
from dmabuf_check.traces.format import Trace, lane_of
from dmabuf_check.traces.render_calls import blocked_calls

# uAPI a userspace selftest can drive: the trace must use one of these for --as kselftest to make sense.
_UAPI = re.compile(r"\b(ioctl|UDMABUF_\w+|DMA_HEAP_IOCTL\w*|SYNC_IOC_\w+|DMA_BUF_IOCTL_\w+|DMA_BUF_SET_NAME\w*|"
                   r"mmap|munmap|poll|close|readlink|memfd_create)\b")

# dma_buf_ops members the design's callbacks stand for (model name -> kernel member)
OPS = {"attach": "attach", "detach": "detach", "pin": "pin", "unpin": "unpin", "map": "map_dma_buf",
       "unmap": "unmap_dma_buf", "release": "release", "begin_cpu_access": "begin_cpu_access",
       "end_cpu_access": "end_cpu_access", "vmap": "vmap", "vunmap": "vunmap", "mmap": "mmap"}
REQUIRED_OPS = ("map", "unmap", "release")  # dma_buf_export() refuses ops without them
_CALL = re.compile(r"\s*([A-Za-z_]\w*)\((.*?)\)(.*)$")
_CONST = re.compile(r"(DMA_(BIDIRECTIONAL|TO_DEVICE|FROM_DEVICE|NONE)|DMA_RESV_USAGE_[A-Z]+|NULL|true|false|-?\d+)")
_LOCKDEP_WORDS = ("lockdep", "lock-order", "recursive", "irq-unsafe", "irq-safe", "might_sleep", "held")


def c_comment(text: str) -> str:
    """Text for inside a C comment: neither end nor a nested start (-Wcomment)."""
    return _c_comment(text).replace("/*", "/ *")


def comment_block(lines: list[str], indent: str = "\t") -> list[str]:
    return _comment_block([line.replace("/*", "/ *") for line in lines], indent)


def uses_uapi(trace: Trace) -> bool:
    """Whether the trace drives the buffer through uAPI (udmabuf and dma-heap ioctls, the SYNC ioctls,
    mmap/close of the fd): only such a trace makes sense as a userspace kernel selftest."""
    return any(_UAPI.search(s.call or "") for s in trace.steps)


def ident(text: str, limit: int = 40) -> str:
    """A C identifier from a model or lane name."""
    out = re.sub(r"\W+", "_", ascii_text(text)).strip("_").lower() or "x"
    return ("m_" + out if out[0].isdigit() else out)[:limit].rstrip("_")


def module_name(trace: Trace) -> str:
    return f"dmabuf_kunit_{ident(trace.model, 36)}"


@dataclass
class Unit:
    """One C call site: the steps of one trace call on one lane (the sub-steps of a core call run as it)."""

    lane: str
    steps: list[int]
    head: str
    calls: list[str] = field(default_factory=list)
    blocked: bool = False  # after the trace: a call the model says never completes


def _head(call: str) -> str:
    return call.split(": ", 1)[0].strip()


def _api_head(call: str) -> str | None:
    m = _CALL.match(_head(call).split(" -> ")[0])
    return m.group(1) if m and m.group(1) in API else None


class _Gen:
    """The state of one export: which objects the calls name, the hooks and helpers they need."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.judge = Judge.for_trace(trace)
        self.model = self.judge.model
        self.p = ident(trace.model, 28)
        self.P = self.p.upper()
        self.n_imp = max(int(trace.params.get("importers", 0) or 0), self._max_member(), 1)
        self.n_buf = max(int(trace.params.get("buffers", 1) or 1), 1)
        self.hooks: dict[str, str] = {}  # name -> what it stands for
        self.fences = self._driver_fences()
        self.mutexes = self._mutexes()
        self.uses_ww: set[str] = set()

    # ---- what the model names ----------------------------------------------------
    def _max_member(self) -> int:
        return max((len(v) for v in self.trace.initial.values() if isinstance(v, list)), default=0)

    def _driver_fences(self) -> list[str]:
        """A driver program's fences that exist when its threads start (``life_X`` LIVE)."""
        return [k[5:] for k, v in self.trace.initial.items() if k.startswith("life_") and v == "LIVE"
                and f"signaled_{k[5:]}" in self.trace.initial]

    def _mutexes(self) -> list[str]:
        out = []
        for lk in getattr(self.model, "locks", []):
            name = getattr(lk, "name", "")
            if name and "resv" not in name and getattr(lk, "sleeps", True):
                out.append(name)
        return out

    def owner_label(self, lane: str) -> str:
        return {"exporter": "EXP", "hardware": "SIG"}.get(lane, lane)

    def member(self, lane: str) -> int:
        m = re.fullmatch(r"importer (\d+)", lane)
        return int(m.group(1)) if m else 0

    def hook(self, name: str, what: str) -> str:
        fn = f"{self.p}_{ident(name, 40)}"
        self.hooks.setdefault(fn, what)
        return fn

    # ---- arguments --------------------------------------------------------------
    def arg(self, tok: str, lane: str) -> str | None:
        tok = tok.strip()
        buf = "ctx->buf[0]"
        for pat, rep in ((r"dmabuf|dma_buf|buf", lambda m: buf), (r"dev(\d+)", lambda m: f"ctx->dev[{m[1]}]"),
                         (r"att(\d+)", lambda m: f"ctx->att[{m[1]}]"), (r"sgt(\d+)", lambda m: f"ctx->sgt[{m[1]}]"),
                         (r"&map(\d+)", lambda m: f"&ctx->map[{m[1]}]"),
                         (r"resv|dmabuf->resv|obj->resv|&?resv_b0|resv0", lambda m: f"{buf}->resv"),
                         (r"resv_b(\d+)|resv(\d+)", lambda m: f"ctx->buf[{min(int(m[1] or m[2]), self.n_buf - 1)}]->resv"),
                         (r"job(\d+)_fence", lambda m: f"ctx->job[{m[1]}]"),
                         (r"exporter fence", lambda m: f"{self.p}_exporter_fence(ctx)"),
                         (r"&importer_ops", lambda m: f"&{self.p}_importer_ops"), (r"priv", lambda m: "ctx"),
                         (r"dir", lambda m: "DMA_BIDIRECTIONAL")):
            m = re.fullmatch(pat, tok)
            if m:
                return rep(m)
        if tok == "fence":  # dma_resv_add_fence's new fence: the helper makes it
            return "NULL"
        if tok in ("&ctx", "ctx"):
            self.uses_ww.add(lane)
            return "&ww"
        if tok in self.fences:
            return f"ctx->f_{ident(tok)}"
        if _CONST.fullmatch(tok):
            return tok
        return None

    # ---- statements -------------------------------------------------------------
    def statements(self, call: str, unit: Unit, k: int) -> list[str]:
        """C lines for one call text: a core call with its sub-steps as comments, or driver code part by part."""
        head, sep, body = call.partition(": ")
        name = _api_head(call)
        if name:
            out = self.api(head, unit, k)
            if out is not None:
                return out + ([f"\t/* inside {name}(): {c_comment(body)} */"] if sep else [])
        parts = [head] if not sep else [head]
        if sep:  # "operation: part; part": the operation is driver code, each part a statement
            lines = [f"\t/* {c_comment(head)} */"]
            for part in _split(body, ";"):
                lines += self.statements(part, unit, k)
            return lines
        parts = _split(call, ";")
        if len(parts) > 1:
            return [line for part in parts for line in self.statements(part, unit, k)]
        single = self.api(call, unit, k) if _CALL.match(call.split(" -> ")[0]) else None
        if single is None:
            single = self.pseudo(call, unit)
        return single

    def pseudo(self, text: str, unit: Unit) -> list[str]:
        """``lock X`` / ``unlock X`` of the model, and kmalloc; anything else is a hook of the driver."""
        lane = unit.lane
        m = re.fullmatch(r"(un)?lock (\S+)", text.strip())
        if m:
            target = m.group(2)
            if target.startswith("resv"):
                r = self.arg(target, lane) or "ctx->buf[0]->resv"
                if m.group(1):
                    return [f"\t{self.p}_resv_unlock(ctx, {r});"]
                return [f"\tif ({self.p}_resv_lock(ctx, {r}, NULL, {c_string(text)}))", "\t\tgoto out;"]
            if target in self.mutexes:
                lk = f"&ctx->lk_{ident(target)}, &ctx->lk_{ident(target)}_owner"
                if m.group(1):
                    return [f"\t{self.p}_mutex_unlock(ctx, {lk});"]
                return [f"\tif ({self.p}_mutex_lock(ctx, {lk}, {c_string(text)}))", "\t\tgoto out;"]
        if re.fullmatch(r"kmalloc\(GFP_KERNEL\)", text.strip()):
            return ["\tkfree(kmalloc(64, GFP_KERNEL)); /* the allocation the model makes here (fs_reclaim) */"]
        fn = self.hook(f"{lane}_{text}", text)
        return [f"\t{fn}(ctx); /* {c_comment(text)} */"]

    def api(self, text: str, unit: Unit, k: int) -> list[str] | None:
        text = text.strip()
        target = ""
        if " -> " in text:
            text, target = (x.strip() for x in text.rsplit(" -> ", 1))
        m = _CALL.match(text)
        if not m or m.group(1) not in API:
            return None
        name, rest = m.group(1), m.group(3).strip()
        raw = [a for a in _split(m.group(2), ",")]
        args = [self.arg(a, unit.lane) for a in raw]
        if any(a is None for a in args) and name not in ("dma_buf_get",):
            return None
        out = API[name](self, unit, [a for a in args if a is not None], target, k)
        if out is None:
            return None
        note = f" /* {c_comment(rest)} */" if rest else ""
        return [f"\t{line}" for line in out[:-1]] + [f"\t{out[-1]}{note}"] if out else out


def _split(text: str, sep: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == sep and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        cur += ch
    return [x for x in out + [cur.strip()] if x]


# ---- the core calls, as C ---------------------------------------------------------
def _target_index(target: str, prefix: str) -> str | None:
    m = re.fullmatch(rf"{prefix}(\d+)", target)
    return m.group(1) if m else None


def _get(g: _Gen, u: Unit, a: list[str], t: str, k: int) -> list[str]:
    m = g.member(u.lane)
    # dma_buf_get(fd) looks the fd up in the caller's file table (uAPI side); in-kernel it is get_dma_buf()
    return ["get_dma_buf(ctx->buf[0]); /* the trace's dma_buf_get(fd): in-kernel, a reference on the buffer */",
            f"ctx->ref[{m}]++;"]


def _put(g: _Gen, u: Unit, a: list[str], t: str, k: int) -> list[str]:
    m = g.member(u.lane)
    who = f"ctx->ref[{m}]--;" if m else "ctx->exp_ref--;"
    return [f"dma_buf_put({a[0]});", who]


def _attach(g: _Gen, u: Unit, a: list[str], t: str, k: int) -> list[str] | None:
    i = _target_index(t, "att") or str(g.member(u.lane))
    if len(a) == 2:
        return [f"ctx->att[{i}] = dma_buf_attach({a[0]}, {a[1]});", f"{g.p}_ret(ctx, {k}, PTR_ERR_OR_ZERO(ctx->att[{i}]));",
                f"if (IS_ERR(ctx->att[{i}]))", f"\tctx->att[{i}] = NULL;"]
    return None


def _dyn_attach(g: _Gen, u: Unit, a: list[str], t: str, k: int) -> list[str] | None:
    i = _target_index(t, "att") or str(g.member(u.lane))
    if len(a) != 4:
        return None
    return [f"ctx->att[{i}] = dma_buf_dynamic_attach({a[0]}, {a[1]}, {a[2]}, {a[3]});",
            f"{g.p}_ret(ctx, {k}, PTR_ERR_OR_ZERO(ctx->att[{i}]));", f"if (IS_ERR(ctx->att[{i}]))", f"\tctx->att[{i}] = NULL;"]


def _detach(g: _Gen, u: Unit, a: list[str], t: str, k: int) -> list[str] | None:
    if len(a) != 2:
        return None
    return [f"if ({a[1]})", f"\tdma_buf_detach({a[0]}, {a[1]});", f"{a[1]} = NULL;"]


def _holds_resv(g: _Gen, u: Unit) -> bool:
    before = g.trace.states()[u.steps[0] - 1] if u.steps else g.trace.final
    return before.get("owner") == g.owner_label(u.lane)


def _map(g: _Gen, u: Unit, a: list[str], t: str, k: int, name: str) -> list[str] | None:
    i = _target_index(t, "sgt") or str(g.member(u.lane))
    if len(a) != 2:
        return None
    if name == "dma_buf_map_attachment" and not _holds_resv(g, u) and g.trace.property.id != "map-holds-resv":
        # the plain call asserts resv held (v6.2+); the model does not hold it here, so the core takes it
        name = "dma_buf_map_attachment_unlocked"
    return [f"ctx->sgt[{i}] = {name}({a[0]}, {a[1]});", f"{g.p}_ret(ctx, {k}, PTR_ERR_OR_ZERO(ctx->sgt[{i}]));",
            f"if (IS_ERR(ctx->sgt[{i}]))", f"\tctx->sgt[{i}] = NULL;"]


def _unmap(g: _Gen, u: Unit, a: list[str], t: str, k: int, name: str) -> list[str] | None:
    if len(a) != 3:
        return None
    if name == "dma_buf_unmap_attachment" and not _holds_resv(g, u) and g.trace.property.id != "map-holds-resv":
        name = "dma_buf_unmap_attachment_unlocked"
    return [f"if ({a[0]} && {a[1]})", f"\t{name}({a[0]}, {a[1]}, {a[2]});", f"{a[1]} = NULL;"]


def _simple(fmt: str, nargs: int, ret: bool = False):
    def emit(g: _Gen, u: Unit, a: list[str], t: str, k: int) -> list[str] | None:
        if len(a) < nargs:
            return None
        call = fmt.format(*a, p=g.p)
        return [f"{g.p}_ret(ctx, {k}, {call});"] if ret else [f"{call};"]
    return emit


def _resv_lock(g: _Gen, u: Unit, a: list[str], t: str, k: int, slow: bool = False) -> list[str] | None:
    if len(a) != 2:
        return None
    if slow:
        return [f"dma_resv_lock_slow({a[0]}, {a[1]});", f"{g.p}_resv_held(ctx, {a[0]});"]
    return [f"if ({g.p}_resv_lock(ctx, {a[0]}, {a[1]}, {c_string(u.head)}))", "\tgoto out;"]


def _add_fence(g: _Gen, u: Unit, a: list[str], t: str, k: int) -> list[str] | None:
    if len(a) != 3:
        return None
    m = g.member(u.lane)
    slot = f"ctx->job[{m}]" if m else f"ctx->ef[ctx->nr_ef++ % {g.P}_NR_EF]"
    locked = "true" if _holds_resv(g, u) else "false"
    return [f"{slot} = {g.p}_add_fence(ctx, {a[0]}, {a[2]}, {locked});"]


def _wait_resv(g: _Gen, u: Unit, a: list[str], t: str, k: int) -> list[str] | None:
    if len(a) < 2:
        return None
    return [f"if (dma_resv_wait_timeout({a[0]}, {a[1]}, false, msecs_to_jiffies({g.P}_TIMEOUT_MS)) <= 0)",
            f"\t{g.p}_blocked(ctx, {c_string(u.head)});"]


def _fence(fmt: str):
    def emit(g: _Gen, u: Unit, a: list[str], t: str, k: int) -> list[str] | None:
        if not a:
            return None
        f = a[0]
        return [f"if ({g.p}_fence_usable(ctx, {f}, {c_string(u.head)}))", f"\t{fmt.format(f, P=g.P)};"]
    return emit


def _fence_wait(g: _Gen, u: Unit, a: list[str], t: str, k: int) -> list[str] | None:
    if not a:
        return None
    f = a[0]
    return [f"if ({g.p}_fence_usable(ctx, {f}, {c_string(u.head)}) &&",
            f"    dma_fence_wait_timeout({f}, false, msecs_to_jiffies({g.P}_TIMEOUT_MS)) <= 0)",
            f"\t{g.p}_blocked(ctx, {c_string(u.head)});"]


API = {
    "dma_buf_get": _get,
    "dma_buf_put": _put,
    "dma_buf_attach": _attach,
    "dma_buf_dynamic_attach": _dyn_attach,
    "dma_buf_detach": _detach,
    "dma_buf_map_attachment": lambda g, u, a, t, k: _map(g, u, a, t, k, "dma_buf_map_attachment"),
    "dma_buf_map_attachment_unlocked": lambda g, u, a, t, k: _map(g, u, a, t, k, "dma_buf_map_attachment_unlocked"),
    "dma_buf_unmap_attachment": lambda g, u, a, t, k: _unmap(g, u, a, t, k, "dma_buf_unmap_attachment"),
    "dma_buf_unmap_attachment_unlocked": lambda g, u, a, t, k: _unmap(g, u, a, t, k, "dma_buf_unmap_attachment_unlocked"),
    "dma_buf_begin_cpu_access": _simple("dma_buf_begin_cpu_access({0}, {1})", 2, ret=True),
    "dma_buf_end_cpu_access": _simple("dma_buf_end_cpu_access({0}, {1})", 2, ret=True),
    "dma_buf_vmap": _simple("dma_buf_vmap({0}, {1})", 2, ret=True),
    "dma_buf_vmap_unlocked": _simple("dma_buf_vmap_unlocked({0}, {1})", 2, ret=True),
    "dma_buf_vunmap": _simple("dma_buf_vunmap({0}, {1})", 2),
    "dma_buf_vunmap_unlocked": _simple("dma_buf_vunmap_unlocked({0}, {1})", 2),
    "dma_buf_pin": _simple("dma_buf_pin({0})", 1, ret=True),
    "dma_buf_unpin": _simple("dma_buf_unpin({0})", 1),
    "dma_buf_move_notify": _simple("dma_buf_move_notify({0})", 1),
    "dma_resv_lock": _resv_lock,
    "dma_resv_lock_slow": lambda g, u, a, t, k: _resv_lock(g, u, a, t, k, slow=True),
    "dma_resv_unlock": lambda g, u, a, t, k: [f"{g.p}_resv_unlock(ctx, {a[0]});"] if a else None,
    "ww_acquire_init": lambda g, u, a, t, k: ["/* ww_acquire_init(&ww, &reservation_ww_class): done when the thread starts */"]
    if a == ["&ww"] else None,
    "dma_resv_add_fence": _add_fence,
    "dma_resv_wait_timeout": _wait_resv,
    "dma_fence_signal": _fence("dma_fence_signal({0})"),
    "dma_fence_put": _fence("dma_fence_put({0})"),
    "dma_fence_get": _fence("dma_fence_get({0})"),
    "dma_fence_enable_sw_signaling": _fence("dma_fence_enable_sw_signaling({0})"),
    "dma_fence_wait": _fence_wait,
    "dma_fence_wait_timeout": _fence_wait,
}


# ---- units: the trace's calls per lane, in order ------------------------------------------------
def _continues(prev: Unit, step, call: str, program: bool) -> bool:
    """Whether a step is a further sub-step of the core call ``prev`` is in (the model splits calls into steps)."""
    if _head(call) != prev.head or not _api_head(call) or ": " not in call:
        return False
    first = prev.calls[0] if prev.calls else ""
    return program or bool(re.fullmatch(rf"{re.escape(first)}_\d+", step.action))


def units_of(trace: Trace) -> list[Unit]:
    program = "driver" in trace.params
    units: list[Unit] = []
    open_unit: dict[str, Unit] = {}
    last_lane = ""
    for n, st in enumerate(trace.steps, 1):
        lane = lane_of(st.actor)
        cur = open_unit.get(lane)
        if cur is not None and _continues(cur, st, st.call, program) and (last_lane == lane or cur is units[-1] or program):
            cur.steps.append(n)
        else:
            cur = Unit(lane, [n], _head(st.call), [st.action])
            units.append(cur)
            open_unit[lane] = cur
        last_lane = lane
    return units


def _pending(g: _Gen, lane: str) -> tuple[str, str] | None:
    """The call a lane is at when the trace ends, from its program counter: (action, call)."""
    final = g.trace.final
    member = g.member(lane)
    if lane == "exporter":
        pc = final.get("exp_pc")
    elif member:
        v = final.get("pc")
        pc = v[member - 1] if isinstance(v, list) and len(v) >= member else None
    else:
        pc = final.get(f"pc_{lane}")
    if not isinstance(pc, str):
        return None
    m = re.fullmatch(r"(\w+)@(\d+)", pc) or re.fullmatch(r"L(\d+)", pc)
    if not m:
        return None
    name = f"{m.group(1)}_{m.group(2)}" if m.lastindex == 2 else f"{lane}_{m.group(1)}"
    try:
        act = g.model.action_named(name)
    except Exception:  # not an action of this model: the lane is not inside a call
        return None
    return name, format_call(act, [member] if member and act.params else [])


def _blocked_units(g: _Gen, trace: Trace) -> list[Unit]:
    out: list[Unit] = []
    seen: set[str] = set()
    why = explain(trace)
    for b in blocked_calls(trace, g.judge):
        if not b.lane or b.lane in seen:
            continue
        call = b.call
        if b.lane != "hardware":
            pend = _pending(g, b.lane)
            if pend is not None:
                call = pend[1]
        if not call or "{" in call:
            continue
        seen.add(b.lane)
        out.append(Unit(b.lane, [], _head(call), [call], blocked=True))
    # a driver program's invariant: the call the explanation names is the one that breaks it
    m = re.match(r"(\w+) at '([^']+)'", why.text)
    if m and m.group(1) not in seen and "driver" in trace.params:
        out.append(Unit(m.group(1), [], _head(m.group(2)), [m.group(2)], blocked=True))
    return out


# ---- the file -----------------------------------------------------------------------------------
def _kind(trace: Trace) -> str:
    text = " ".join([trace.property.id, trace.property.meaning, trace.property.source]).lower()
    if "kasan" in text or "use-after-free" in text or "freed" in text:
        return "kasan"
    if any(w in text for w in _LOCKDEP_WORDS) or trace.property.id in ("map-holds-resv", "sig-no-resv-lock"):
        return "lockdep"
    if len(re.findall(r"\block \S", trace.detail)) >= 2:  # a cycle of locks: lockdep's circular dependency
        return "lockdep"
    return ""


def _observer(g: _Gen, slot: int, expected: int) -> str:
    """How the test reads one model variable: from the kernel objects where it can, else the named hook."""
    v, m = g.judge.c.layout.slot_vars[slot]
    name, member = v.name, (m + 1 if m is not None else 0)
    t = v.type
    labels = t.labels if isinstance(t, EnumType) else None
    if isinstance(t, RangeType) and t.lo != 0:
        labels = None
    if name == "att" and member:
        return f"ctx->att[{member}] != NULL"
    if name == "map" and member and not labels:
        return f"ctx->sgt[{member}] != NULL"
    if name == "ref" and member:
        return f"ctx->ref[{member}]"
    if name == "exp_ref":
        return "ctx->exp_ref"
    if name == "released":
        return f"atomic_read(&{g.p}_released) > 0"
    if name.startswith(("life_", "refs_", "signaled_")):
        obj = name.split("_", 1)[1]
        if obj in g.fences:
            f = f"ctx->f_{ident(obj)}"
            if name.startswith("life_") and labels and "FREED" in labels and "LIVE" in labels:
                return f"{g.p}_fence_freed({f}) ? {labels.index('FREED')} : {labels.index('LIVE')}"
            if name.startswith("refs_"):
                return f"{g.p}_fence_freed({f}) ? 0 : (int)kref_read(&{f}->refcount)"
            if name.startswith("signaled_"):
                return f"test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &{f}->flags)"
    return f"{g.p}_observe(ctx, {c_string(name)}, {member}, {expected})"


def to_kunit(trace: Trace) -> str:
    """The KUnit suite (one .c file) that replays ``trace`` in-kernel; build it with ``to_kbuild``'s Kbuild."""
    g = _Gen(trace)
    p, P = g.p, g.P
    why = explain(trace)
    units = units_of(trace)
    blocked = _blocked_units(g, trace)
    lanes: list[str] = []
    for u in units + blocked:
        if u.lane not in lanes:
            lanes.append(u.lane)
    nr_calls = len(units)
    # C bodies first: they decide which hooks and locks the file declares
    body: dict[str, list[str]] = {lane: [] for lane in lanes}
    prev_lane = ""
    for k, u in enumerate(units, 1):
        steps = trace.steps[u.steps[0] - 1: u.steps[-1]]
        out = body[u.lane]
        act = g.model.action_named(steps[0].action)
        desc = [f"call {k}: model step{'s' if len(u.steps) > 1 else ''} {', '.join(map(str, u.steps))} ({u.lane}): "
                f"{steps[0].label} - {act.meaning}" + (f" [{act.rule}]" if act.rule else "")]
        if len(u.steps) > 1 and u.steps[-1] - u.steps[0] + 1 != len(u.steps):
            desc.append("the model runs other threads' steps between these sub-steps, inside the call: they can "
                        "only be placed there from the exporter stubs, so here the call runs whole")
        out += comment_block(desc)
        if prev_lane and prev_lane != u.lane:
            out += [f"\tif (!{p}_turn(ctx, {k - 1})) /* hand-off from {c_comment(prev_lane)} */", "\t\tgoto out;"]
        out += g.statements(steps[0].call, u, k)
        out.append(f"\t{p}_done(ctx, {k});")
        out.append("")
        prev_lane = u.lane
    for u in blocked:
        out = body[u.lane]
        breaks = _kind(trace) == "kasan" and "driver" in trace.params and u.lane != "hardware"
        out += comment_block([f"after the trace: the model says this {'breaks the rule' if breaks else 'never completes'}: "
                              f"{u.calls[0]} (bounded by {P}_TIMEOUT_MS)"])
        out += [f"\tif (!{p}_turn(ctx, {nr_calls}))", "\t\tgoto out;"]
        out += g.statements(u.calls[0], u, nr_calls + 1)
        out.append("")
    kind = _kind(trace)
    prop = g.judge.prop
    c = g.judge.c
    lay = c.layout
    expected = list(lay.encode(trace.final))
    check = (property_c(c, g.model, prop) if isinstance(prop, Property) and prop.build is not None
             and g.judge.kind != DEADLOCK else "")
    design = None
    try:
        from dmabuf_check.registry import resolve

        design = resolve(trace.model).design
    except Exception:  # an R1 model or a user's file: the default exporter callbacks
        design = None
    ops = dict(getattr(design, "ops", {}) or {})
    follows = getattr(design, "follows", "") or "the driver under test"
    for req in REQUIRED_OPS:
        ops.setdefault(req, None)
    if any(s.call.startswith("dma_buf_dynamic_attach") for s in trace.steps) or "pin" in ops:
        ops.setdefault("pin", None)
        ops.setdefault("unpin", None)
    rules = ", ".join(trace.property.rules)
    head = [
        "// SPDX-License-Identifier: GPL-2.0",
        *comment_block([
            f"KUnit reproducer for a dmabuf-check counterexample ({trace.length} steps).",
            f"model: {trace.title()}",
            f"property: {trace.property.id} ({rules}): {trace.property.meaning}",
            f"kernel: {trace.property.source}",
            f"why: {why.text}",
            "",
            f"Generated by dmabuf-check {trace.tool_version}. One kthread per actor makes the trace's calls; a "
            "completion per call hands control between threads at each hand-off, so the calls run in the "
            f"trace's order. The test exporter's dma_buf_ops are stubs named after the design's callbacks: put "
            f"the driver's hooks in where the TODOs say ({follows}). The case fails when the violation is "
            "reproduced.",
            f"Build: make -C /lib/modules/$(uname -r)/build M=$PWD modules (Kbuild: obj-m += {module_name(trace)}.o); "
            f"run: insmod {module_name(trace)}.ko on a kernel with CONFIG_KUNIT (results in dmesg and "
            "/sys/kernel/debug/kunit/), or add it to a kernel tree and use tools/testing/kunit/kunit.py run.",
        ], indent=""),
        "#include <kunit/test.h>",
        "#include <linux/completion.h>",
        "#include <linux/debug_locks.h>",
        "#include <linux/delay.h>",
        "#include <linux/device.h>",
        "#include <linux/dma-buf.h>",
        "#include <linux/dma-fence.h>",
        "#include <linux/dma-resv.h>",
        "#include <linux/err.h>",
        "#include <linux/jiffies.h>",
        "#include <linux/kthread.h>",
        "#include <linux/module.h>",
        "#include <linux/mutex.h>",
        "#include <linux/scatterlist.h>",
        "#include <linux/slab.h>",
        "#include <linux/version.h>",
        "",
        "/* dma-buf symbols live in the DMA_BUF namespace; v6.13 made the argument a string literal */",
        "#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)",
        'MODULE_IMPORT_NS("DMA_BUF");',
        "#else",
        "MODULE_IMPORT_NS(DMA_BUF);",
        "#endif",
        "",
        "/* before v6.2 the plain vmap calls took the reservation lock themselves */",
        "#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)",
        "#define dma_buf_vmap_unlocked dma_buf_vmap",
        "#define dma_buf_vunmap_unlocked dma_buf_vunmap",
        "#endif",
        "",
        f"#define {P}_NR_IMPORTERS {g.n_imp}",
        f"#define {P}_NR_BUFFERS {g.n_buf}",
        f"#define {P}_NR_CALLS {nr_calls}",
        f"#define {P}_NR_THREADS {len(lanes)}",
        f"#define {P}_NR_SLOTS {lay.size}",
        f"#define {P}_NR_EF 4",
        f"#define {P}_TIMEOUT_MS 1000 /* a call the model says never completes gives up after this */",
        f"#define {P}_JOIN_MS (({P}_NR_CALLS + 4) * {P}_TIMEOUT_MS)",
        "",
        f"struct {p}_ctx {{",
        "\tstruct kunit *test;",
        f"\tstruct dma_buf *buf[{P}_NR_BUFFERS];",
        f"\tstruct device *dev[{P}_NR_IMPORTERS + 1]; /* 1-based, like the trace's importers */",
        f"\tstruct dma_buf_attachment *att[{P}_NR_IMPORTERS + 1];",
        f"\tstruct sg_table *sgt[{P}_NR_IMPORTERS + 1];",
        f"\tstruct iosys_map map[{P}_NR_IMPORTERS + 1];",
        f"\tint ref[{P}_NR_IMPORTERS + 1]; /* the references each importer took and dropped */",
        "\tint exp_ref;",
        f"\tstruct dma_fence *job[{P}_NR_IMPORTERS + 1]; /* importer jobs */",
        f"\tstruct dma_fence *ef[{P}_NR_EF]; /* exporter fences (move, clear) */",
        "\tint nr_ef;",
        *[f"\tstruct dma_fence *f_{ident(f)};" for f in g.fences],
        *[f"\tstruct mutex lk_{ident(lk)}; /* {c_comment(lk)} */\n\tstruct task_struct *lk_{ident(lk)}_owner;"
          for lk in g.mutexes],
        f"\tstruct task_struct *resv_owner[{P}_NR_BUFFERS]; /* who holds each resv: a thread drops its own at its end */",
        "\tspinlock_t fence_lock;",
        f"\tstruct completion done[{P}_NR_CALLS + 1];",
        f"\tstruct completion exited[{P}_NR_THREADS];",
        "\tatomic_t missed; /* hand-offs that never came */",
        "\tatomic_t blocked; /* calls that did not complete within the timeout */",
        "\tconst char *blocked_at;",
        "\tconst char *use_after_free; /* a call on a fence whose last reference was gone */",
        "\tint err, err_call;",
        "};",
        "",
        f"static atomic_t {p}_released = ATOMIC_INIT(0);",
        f"static DECLARE_COMPLETION({p}_release_done);",
        "",
    ]
    helpers = _helpers(g)
    stubs = _stubs(g, ops, follows)
    hooks = []
    for fn, what in g.hooks.items():
        hooks += [f"/* TODO: the driver code of this step: {c_comment(what)} */",
                  f"static void {fn}(struct {p}_ctx *ctx)", "{", "\t(void)ctx;", "}", ""]
    threads: list[str] = []
    for t, lane in enumerate(lanes):
        lines = body[lane]
        ww = lane in g.uses_ww
        threads += [f"/* {c_comment(lane)} */", f"static int {p}_{ident(lane)}_thread(void *data)", "{",
                    f"\tstruct {p}_ctx *ctx = data;"]
        if ww:
            threads += ["\tstruct ww_acquire_ctx ww;", "", "\tww_acquire_init(&ww, &reservation_ww_class);"]
        threads.append("")
        threads += lines
        if any("goto out;" in x for x in lines):
            threads.append("out:")
        threads += [f"\t{p}_release_held(ctx);"]
        if ww:
            threads.append("\tww_acquire_fini(&ww);")
        threads += [f"\tkthread_complete_and_exit(&ctx->exited[{t}], 0);", "}", ""]
    observe = [f"\tx[{k}] = {_observer(g, k, expected[k])}; /* {c_comment(lay.slot_names[k])} */" for k in range(lay.size)]
    wrapped = textwrap.wrap(check, 92, break_long_words=False, break_on_hyphens=False) if check else []
    case = ident(f"{trace.property.id}", 30)
    violation = f"{trace.property.id} violated: {why.text}"
    expects = []
    real = [k for k in map(int, re.findall(r"x\[(\d+)\]", check)) if not _observer(g, k, 0).startswith(f"{p}_observe(")]
    if blocked or "deadlock" in trace.property.id:
        check = ""  # a wait-for cycle is seen as calls that never complete, not in variables
    skip = ""
    if check and not real:
        skip = (f"{trace.property.id} reads driver state only: implement {p}_observe() for "
                + ", ".join(sorted({lay.slot_names[k].split('[')[0] for k in map(int, re.findall(r'x\[(\d+)\]', check))}))
                + f" and build with -D{P}_OBSERVE_DRIVER")
    if check:
        unobserved = [f"#ifndef {P}_OBSERVE_DRIVER", f"\tkunit_mark_skipped(test, \"%s\", {c_string(skip)});", "#else"]
        expects += [f"\t/* {trace.property.id}, compiled from the model's predicate over the observed state */",
                    *(unobserved if skip else []),
                    f"\tKUNIT_EXPECT_TRUE_MSG(test, {p}_property_holds(x), \"%s\",", f"\t\t\t      {c_string(violation)});",
                    *(["#endif"] if skip else [])]
    if blocked:
        expects += ["\t/* the calls the model says never complete: each gave up after the timeout */",
                    "\tKUNIT_EXPECT_EQ_MSG(test, atomic_read(&ctx->blocked), 0, \"%s blocked: %s\",",
                    "\t\t\t    ctx->blocked_at ? ctx->blocked_at : \"\",", f"\t\t\t    {c_string(violation)});"]
    if kind == "lockdep":
        expects += comment_block(["lockdep's report: with CONFIG_PROVE_LOCKING the kernel prints a 'possible circular "
                                  "locking dependency' / 'possible recursive locking' / 'suspicious RCU usage or "
                                  "dma_resv_assert_held' splat for these calls and turns debug_locks off; without "
                                  "lockdep this expectation cannot see the violation (and a splat earlier in the boot "
                                  "fails it too)"])
        expects += ["\tKUNIT_EXPECT_TRUE_MSG(test, debug_locks, \"%s\",", f"\t\t\t      {c_string('lockdep: ' + violation)});"]
    if kind == "kasan" or g.fences:
        expects += comment_block(["a call on a fence whose last reference was gone: on the real driver the release "
                                  "frees it and KASAN reports 'BUG: KASAN: slab-use-after-free' in that call (KUnit "
                                  "then fails the case by itself); the test fences here stay allocated until the end "
                                  "so the use is checked instead of made"])
        expects += ["\tKUNIT_EXPECT_TRUE_MSG(test, !ctx->use_after_free, \"use after free: %s\",",
                    "\t\t\t      ctx->use_after_free ? ctx->use_after_free : \"\");"]
    if not expects:
        expects = ["\tKUNIT_EXPECT_TRUE_MSG(test, false, \"%s\", " + c_string(violation) + ");"]
    tail = [
        "/* the state the trace ends in, in the model's encoding */",
        f"static const int {p}_expected[{P}_NR_SLOTS] = {{" + ", ".join(map(str, expected)) + "};",
        "",
        f"static const char *const {p}_slot_names[{P}_NR_SLOTS] = {{",
        *[f"\t{c_string(n)}," for n in lay.slot_names], "};", "",
        f"static void {p}_observe_all(struct {p}_ctx *ctx, int *x)", "{", *observe, "}", "",
    ]
    if check:
        tail += [f"static bool __maybe_unused {p}_property_holds(const int *x)", "{",
                 *[("\treturn " if k == 0 else "\t\t") + part + (";" if k == len(wrapped) - 1 else "")
                   for k, part in enumerate(wrapped)], "}", ""]
    tail += [
        f"static int (*const {p}_threads[{P}_NR_THREADS])(void *) = {{",
        *[f"\t{p}_{ident(lane)}_thread," for lane in lanes], "};",
        f"static const char *const {p}_thread_names[{P}_NR_THREADS] = {{",
        *[f"\t{c_string(lane)}," for lane in lanes], "};", "",
        f"static void {p}_{case}(struct kunit *test)",
        "{",
        f"\tstruct {p}_ctx *ctx;",
        f"\tint x[{P}_NR_SLOTS];",
        "\tint k;",
        "",
        f"\tctx = {p}_setup(test);",
        "\tKUNIT_ASSERT_NOT_ERR_OR_NULL(test, ctx);",
        f"\tfor (k = 0; k < {P}_NR_THREADS; k++) {{",
        f"\t\tstruct task_struct *t = kthread_run({p}_threads[k], ctx, \"{p[:8]}_%d\", k);",
        "",
        "\t\tif (IS_ERR(t)) {",
        f"\t\t\tKUNIT_FAIL(test, \"kthread_run(%s): %ld\", {p}_thread_names[k], PTR_ERR(t));",
        "\t\t\tcomplete(&ctx->exited[k]);",
        "\t\t}",
        "\t}",
        f"\tfor (k = 0; k < {P}_NR_THREADS; k++) {{",
        f"\t\tif (!wait_for_completion_timeout(&ctx->exited[k], msecs_to_jiffies({P}_JOIN_MS))) {{",
        "\t\t\t/* a thread still runs with ctx: leak it rather than free it under the thread */",
        f"\t\t\tKUNIT_FAIL(test, \"%s thread is still blocked\", {p}_thread_names[k]);",
        "\t\t\treturn;",
        "\t\t}",
        "\t}",
        "\tif (atomic_read(&ctx->missed))",
        "\t\tkunit_info(test, \"%d hand-offs never came: a call blocked or failed before its turn\",",
        "\t\t\t   atomic_read(&ctx->missed));",
        "\tif (ctx->err)",
        "\t\tkunit_info(test, \"call %d returned %d\", ctx->err_call, ctx->err);",
        f"\t{p}_observe_all(ctx, x);",
        f"\tfor (k = 0; k < {P}_NR_SLOTS; k++)",
        f"\t\tif (x[k] != {p}_expected[k])",
        "\t\t\tkunit_info(test, \"%s is %d, the trace ends with %d\",",
        f"\t\t\t\t   {p}_slot_names[k], x[k], {p}_expected[k]);",
        *expects,
        f"\t{p}_teardown(ctx);",
        "}",
        "",
        f"static struct kunit_case {p}_cases[] = {{",
        f"\tKUNIT_CASE({p}_{case}),",
        "\t{}",
        "};",
        "",
        f"static struct kunit_suite {p}_suite = {{",
        f"\t.name = {c_string('dmabuf_check_' + p)},",
        f"\t.test_cases = {p}_cases,",
        "};",
        f"kunit_test_suite({p}_suite);",
        "",
        f"MODULE_DESCRIPTION({c_string('dmabuf-check counterexample: ' + trace.model + ' / ' + trace.property.id)});",
        'MODULE_LICENSE("GPL");',
        "",
    ]
    return "\n".join(head + helpers + stubs + hooks + threads + tail)


def _helpers(g: _Gen) -> list[str]:
    p, P = g.p, g.P
    fence_init = "".join(f"\tctx->f_{ident(f)} = {p}_fence_create(ctx, {int(g.trace.initial.get(f'refs_{f}', 1) or 1)});\n"
                         for f in g.fences)
    unlock_mutexes = "".join(f"\t{p}_mutex_unlock(ctx, &ctx->lk_{ident(lk)}, &ctx->lk_{ident(lk)}_owner);\n"
                             for lk in g.mutexes)
    text = f"""
static void {p}_ret(struct {p}_ctx *ctx, int call, int err)
{{
	if (err && !ctx->err) {{
		ctx->err = err;
		ctx->err_call = call;
	}}
}}

static void {p}_blocked(struct {p}_ctx *ctx, const char *what)
{{
	if (atomic_inc_return(&ctx->blocked) == 1)
		ctx->blocked_at = what;
}}

/* wait for the call before a hand-off; false if it never came (a call blocked) */
static bool {p}_turn(struct {p}_ctx *ctx, int call)
{{
	if (call <= 0 || wait_for_completion_timeout(&ctx->done[call], msecs_to_jiffies({P}_JOIN_MS)))
		return true;
	atomic_inc(&ctx->missed);
	return false;
}}

static void {p}_done(struct {p}_ctx *ctx, int call)
{{
	complete_all(&ctx->done[call]);
}}

/* a lock the model says never comes free is tried until the timeout, so a deadlock ends the test */
static int {p}_mutex_lock(struct {p}_ctx *ctx, struct mutex *lock, struct task_struct **owner, const char *what)
{{
	unsigned long end = jiffies + msecs_to_jiffies({P}_TIMEOUT_MS);

	while (!mutex_trylock(lock)) {{
		if (time_after(jiffies, end)) {{
			{p}_blocked(ctx, what);
			return -ETIMEDOUT;
		}}
		msleep(1);
	}}
	*owner = current;
	return 0;
}}

static void {p}_mutex_unlock(struct {p}_ctx *ctx, struct mutex *lock, struct task_struct **owner)
{{
	(void)ctx;
	if (*owner == current) {{
		*owner = NULL;
		mutex_unlock(lock);
	}}
}}

static void {p}_resv_held(struct {p}_ctx *ctx, struct dma_resv *resv)
{{
	int b;

	for (b = 0; b < {P}_NR_BUFFERS; b++)
		if (ctx->buf[b] && ctx->buf[b]->resv == resv)
			ctx->resv_owner[b] = current;
}}

static int {p}_resv_lock(struct {p}_ctx *ctx, struct dma_resv *resv, struct ww_acquire_ctx *ww, const char *what)
{{
	unsigned long end = jiffies + msecs_to_jiffies({P}_TIMEOUT_MS);
	int ret;

	while (dma_resv_is_locked(resv)) {{
		if (time_after(jiffies, end)) {{
			{p}_blocked(ctx, what);
			return -ETIMEDOUT;
		}}
		msleep(1);
	}}
	ret = dma_resv_lock(resv, ww);
	if (ret == -EDEADLK) /* the trace's back-off path: the thread's next call is dma_resv_lock_slow() */
		return 0;
	{p}_ret(ctx, 0, ret);
	if (!ret)
		{p}_resv_held(ctx, resv);
	return ret;
}}

static void {p}_resv_unlock(struct {p}_ctx *ctx, struct dma_resv *resv)
{{
	int b;

	for (b = 0; b < {P}_NR_BUFFERS; b++)
		if (ctx->buf[b] && ctx->buf[b]->resv == resv && ctx->resv_owner[b] == current) {{
			ctx->resv_owner[b] = NULL;
			dma_resv_unlock(resv);
		}}
}}

/* a thread that ends holding locks (it gave up in a deadlock) drops them, as its exit would not */
static void {p}_release_held(struct {p}_ctx *ctx)
{{
	int b;

	for (b = 0; b < {P}_NR_BUFFERS; b++)
		if (ctx->buf[b])
			{p}_resv_unlock(ctx, ctx->buf[b]->resv);
{unlock_mutexes}}}

/* test fences: release only marks them freed, so a use after the last put is caught, not made */
struct {p}_fence {{
	struct dma_fence base;
	bool freed;
}};

static const char *{p}_fence_driver_name(struct dma_fence *f)
{{
	return "{p}";
}}

static const char *{p}_fence_timeline_name(struct dma_fence *f)
{{
	return "{p}_timeline";
}}

static void {p}_fence_release(struct dma_fence *f)
{{
	/* TODO: the driver's fence release; the memory is freed in {p}_teardown() */
	container_of(f, struct {p}_fence, base)->freed = true;
}}

static const struct dma_fence_ops {p}_fence_ops = {{
	.get_driver_name = {p}_fence_driver_name,
	.get_timeline_name = {p}_fence_timeline_name,
	.release = {p}_fence_release,
}};

static bool {p}_fence_freed(struct dma_fence *f)
{{
	return f && container_of(f, struct {p}_fence, base)->freed;
}}

static struct dma_fence *{p}_fence_create(struct {p}_ctx *ctx, int refs)
{{
	struct {p}_fence *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return NULL;
	dma_fence_init(&f->base, &{p}_fence_ops, &ctx->fence_lock, dma_fence_context_alloc(1), 1);
	while (--refs > 0)
		dma_fence_get(&f->base);
	return &f->base;
}}

static bool {p}_fence_usable(struct {p}_ctx *ctx, struct dma_fence *f, const char *what)
{{
	if (!f)
		return false;
	if ({p}_fence_freed(f)) {{
		if (!ctx->use_after_free)
			ctx->use_after_free = what;
		return false;
	}}
	return true;
}}

static struct dma_fence *{p}_exporter_fence(struct {p}_ctx *ctx)
{{
	int k;

	for (k = 0; k < ctx->nr_ef && k < {P}_NR_EF; k++)
		if (ctx->ef[k] && !dma_fence_is_signaled(ctx->ef[k]))
			return ctx->ef[k];
	return NULL;
}}

/* a new unsignalled fence in resv, as a submission adds it */
static struct dma_fence *{p}_add_fence(struct {p}_ctx *ctx, struct dma_resv *resv,
	enum dma_resv_usage usage, bool locked)
{{
	struct dma_fence *f = {p}_fence_create(ctx, 1);

	if (!f)
		return NULL;
	if (!locked)
		dma_resv_lock(resv, NULL);
	if (!dma_resv_reserve_fences(resv, 1))
		dma_resv_add_fence(resv, f, usage);
	if (!locked)
		dma_resv_unlock(resv);
	return f;
}}

/* TODO: read the model variable from the driver; until then it reads as the trace's final value */
static int {p}_observe(struct {p}_ctx *ctx, const char *var, int member, int trace_value)
{{
	(void)ctx;
	(void)var;
	(void)member;
	return trace_value;
}}
"""
    # a trace uses some helpers only: the unused ones must not warn under W=1
    text = re.sub(r"^static (?!const|DECLARE|atomic)(?!.*__maybe_unused)", "static __maybe_unused ", text, flags=re.M)
    return text.splitlines() + [""] + _setup(g, fence_init)


def _setup(g: _Gen, fence_init: str) -> list[str]:
    p, P = g.p, g.P
    text = f"""
static void {p}_ops_release(struct dma_buf *dmabuf);

static const struct dma_buf_ops {p}_dmabuf_ops;
static const struct dma_buf_attach_ops {p}_importer_ops __maybe_unused;

static struct {p}_ctx *{p}_setup(struct kunit *test)
{{
	struct {p}_ctx *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	int k;

	if (!ctx)
		return ERR_PTR(-ENOMEM);
	ctx->test = test;
	spin_lock_init(&ctx->fence_lock);
{"".join(f"	mutex_init(&ctx->lk_{ident(lk)});" + chr(10) for lk in g.mutexes)}	for (k = 0; k <= {P}_NR_CALLS; k++)
		init_completion(&ctx->done[k]);
	for (k = 0; k < {P}_NR_THREADS; k++)
		init_completion(&ctx->exited[k]);
	atomic_set(&{p}_released, 0);
	reinit_completion(&{p}_release_done);
	for (k = 1; k <= {P}_NR_IMPORTERS; k++) {{
		ctx->dev[k] = root_device_register(k == 1 ? "{p[:20]}_imp1" : k == 2 ? "{p[:20]}_imp2" : "{p[:20]}_impn");
		if (IS_ERR(ctx->dev[k])) {{
			ctx->dev[k] = NULL;
			kunit_info(test, "root_device_register failed: importer %d has no device", k);
		}}
	}}
	for (k = 0; k < {P}_NR_BUFFERS; k++) {{
		DEFINE_DMA_BUF_EXPORT_INFO(exp_info);

		exp_info.ops = &{p}_dmabuf_ops;
		exp_info.size = PAGE_SIZE;
		exp_info.flags = O_RDWR;
		exp_info.priv = ctx;
		ctx->buf[k] = dma_buf_export(&exp_info);
		if (IS_ERR(ctx->buf[k])) {{
			long err = PTR_ERR(ctx->buf[k]);

			ctx->buf[k] = NULL;
			kunit_info(test, "dma_buf_export: %ld", err);
			return ERR_PTR(err);
		}}
	}}
	ctx->exp_ref = 1;
{fence_init}	return ctx;
}}

/* undo what the trace left: signal every fence, unmap, detach, drop the references, wait for release */
static void {p}_teardown(struct {p}_ctx *ctx)
{{
	struct dma_fence *fences[{P}_NR_IMPORTERS + 1 + {P}_NR_EF + {len(g.fences)} + 1];
	int nf = 0, k, b;

	for (k = 1; k <= {P}_NR_IMPORTERS; k++)
		fences[nf++] = ctx->job[k];
	for (k = 0; k < {P}_NR_EF; k++)
		fences[nf++] = ctx->ef[k];
{"".join(f"	fences[nf++] = ctx->f_{ident(f)};" + chr(10) for f in g.fences)}	for (k = 0; k < nf; k++)
		if (fences[k] && !{p}_fence_freed(fences[k]))
			dma_fence_signal(fences[k]);
	for (k = 1; k <= {P}_NR_IMPORTERS; k++) {{
		if (ctx->sgt[k] && ctx->att[k])
			dma_buf_unmap_attachment_unlocked(ctx->att[k], ctx->sgt[k], DMA_BIDIRECTIONAL);
		if (ctx->att[k])
			dma_buf_detach(ctx->buf[0], ctx->att[k]);
		for (; ctx->ref[k] > 0; ctx->ref[k]--)
			dma_buf_put(ctx->buf[0]);
	}}
	for (b = 0; b < {P}_NR_BUFFERS; b++)
		if (ctx->buf[b] && (b > 0 || ctx->exp_ref > 0))
			dma_buf_put(ctx->buf[b]);
	/* the last fput runs from a workqueue in a kthread: wait so release does not outlive the module */
	if (!wait_for_completion_timeout(&{p}_release_done, msecs_to_jiffies({P}_JOIN_MS)))
		kunit_info(ctx->test, "the dma-buf was not released: a reference is left (see ref[] above)");
	for (k = 0; k < nf; k++) {{
		if (!fences[k])
			continue;
		if ({p}_fence_freed(fences[k]))
			kfree(container_of(fences[k], struct {p}_fence, base));
		else
			dma_fence_put(fences[k]); /* the test's own reference */
	}}
	for (k = 1; k <= {P}_NR_IMPORTERS; k++)
		if (ctx->dev[k])
			root_device_unregister(ctx->dev[k]);
	kfree(ctx);
}}
"""
    return text.splitlines()


def _stubs(g: _Gen, ops: dict, follows: str) -> list[str]:
    """The test exporter: one stub per design callback, named after it, with the driver hook to put in."""
    p = g.p
    out = ["/* the test exporter: dma_buf_ops stubs named after the design's callbacks */"]

    def todo(op: str) -> str:
        spec = ops.get(op)
        what = []
        if spec is not None:
            for attr in ("locks", "waits", "allocates", "pins", "faults"):
                val = getattr(spec, attr, None)
                if val:
                    what.append(f"{attr}={val}")
        model = f"; the model's {op}: {', '.join(what)}" if what else ""
        return f"\t/* TODO: the driver's {OPS[op]} hook ({c_comment(follows)}){c_comment(model)} */"

    protos = {
        "attach": ("int", "struct dma_buf *dmabuf, struct dma_buf_attachment *attach", "\treturn 0;"),
        "detach": ("void", "struct dma_buf *dmabuf, struct dma_buf_attachment *attach", ""),
        "pin": ("int", "struct dma_buf_attachment *attach", "\treturn 0;"),
        "unpin": ("void", "struct dma_buf_attachment *attach", ""),
        "map": ("struct sg_table *", "struct dma_buf_attachment *attach, enum dma_data_direction dir",
                "\tstruct sg_table *sgt = kzalloc(sizeof(*sgt), GFP_KERNEL);\n\n"
                "\tif (!sgt)\n\t\treturn ERR_PTR(-ENOMEM);\n"
                "\tif (sg_alloc_table(sgt, 1, GFP_KERNEL)) {\n\t\tkfree(sgt);\n\t\treturn ERR_PTR(-ENOMEM);\n\t}\n"
                "\treturn sgt;"),
        "unmap": ("void", "struct dma_buf_attachment *attach, struct sg_table *sgt, enum dma_data_direction dir",
                  "\tsg_free_table(sgt);\n\tkfree(sgt);"),
        "release": ("void", "struct dma_buf *dmabuf",
                    f"\tatomic_inc(&{p}_released);\n\tcomplete_all(&{p}_release_done);"),
        "begin_cpu_access": ("int", "struct dma_buf *dmabuf, enum dma_data_direction dir", "\treturn 0;"),
        "end_cpu_access": ("int", "struct dma_buf *dmabuf, enum dma_data_direction dir", "\treturn 0;"),
        "vmap": ("int", "struct dma_buf *dmabuf, struct iosys_map *map", "\treturn -ENOMEM; /* no CPU mapping yet */"),
        "vunmap": ("void", "struct dma_buf *dmabuf, struct iosys_map *map", ""),
        "mmap": ("int", "struct dma_buf *dmabuf, struct vm_area_struct *vma", "\treturn -ENODEV;"),
    }
    members = []
    for op in OPS:
        if op not in ops:
            continue
        ret, params, body = protos[op]
        name = f"{p}_{OPS[op]}" if op != "release" else f"{p}_ops_release"
        sep = "" if ret.endswith("*") else " "
        out += [f"static {ret}{sep}{name}({params})", "{", todo(op)]
        out += [body] if body else []
        out += ["}", ""]
        members.append(f"\t.{OPS[op]} = {name},")
    out += [f"static const struct dma_buf_ops {p}_dmabuf_ops = {{", *members, "};", ""]
    out += [f"static void __maybe_unused {p}_move_notify(struct dma_buf_attachment *attach)", "{",
            "\t/* TODO: the importer's move_notify: invalidate its mapping (dma_buf_move_notify() calls this) */",
            "}", "",
            f"static const struct dma_buf_attach_ops {p}_importer_ops __maybe_unused = {{",
            "\t.allow_peer2peer = true,", f"\t.move_notify = {p}_move_notify,", "};", ""]
    return out


def to_kbuild(trace: Trace) -> str:
    """The Kbuild file for the suite (``make -C <kernel build dir> M=$PWD modules`` reads it)."""
    return f"obj-m += {module_name(trace)}.o\n"


def to_makefile(trace: Trace) -> str:
    """A Makefile that builds the suite against the running kernel's headers (KDIR=... for others)."""
    return ("# Build the dmabuf-check KUnit suite out of tree.\n"
            "KDIR ?= /lib/modules/$(shell uname -r)/build\n\n"
            "all:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n\n"
            "clean:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) clean\n\n"
            ".PHONY: all clean\n")

