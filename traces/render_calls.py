"""A trace as the kernel API calls each thread makes.

A kernel engineer reads a race as "who called what, in which order": this
rendering prints every step as ``thread: call → result``, where the call is the
action's ``call`` template with the importer number filled in (recorded in
the trace) and the result is said from the variables the step changed
(``→ sgt2: sg_table in SYS``). After the last step it names the calls that
can never complete (the wait-for cycle of a deadlock, the fence a loop
starves), then the violated rule and where the kernel states it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dmabuf_check.checker.paths import actor_of
from dmabuf_check.traces.evaluate import Judge, format_call
from dmabuf_check.traces.explain import Explanation, explain, stuck_threads
from dmabuf_check.traces.format import Trace, TraceError, TraceStep, lane_of

ARROW = "→"


def _slot(slot: str) -> tuple[str, int | None]:
    """``map[2]`` -> ("map", 2); ``storage`` -> ("storage", None)."""
    if slot.endswith("]") and "[" in slot:
        name, m = slot[:-1].split("[", 1)
        return name, int(m) if m.isdigit() else None
    return slot, None


# How a changed variable reads as the result of a call. Variables whose change
# *is* the call (ref after dma_buf_get, att after attach, the lock holder after
# dma_resv_lock) say nothing more; any variable not listed reads as "name=value".
_SILENT = {"ref", "att", "map", "owner", "exp_ref"}
PHRASES: dict[str, Callable[[int | None, object, object], str | None]] = {
    "loc": lambda m, v, old: f"sg_table in {v}" if v != "NONE" else None,
    "storage": lambda m, v, old: f"storage allocated in {v}" if old == "UNALLOC" else f"storage moved to {v}",
    "stale": lambda m, v, old: f"move_notify: importer {m}'s mapping invalidated" if v == 1 else None,
    "released": lambda m, v, old: "last reference gone: dma_buf_release() ran" if v == 1 else None,
    "exp": lambda m, v, old: "exporter now waits for fences" if v == "WAIT" else None,
    "pins": lambda m, v, old: f"pin count {v}",
    "fence": lambda m, v, old: f"job{m}_fence pending" if v == 1 else f"job{m}_fence signalled",
}


def _value(state: dict[str, object], slot: str) -> object:
    name, m = _slot(slot)
    v = state.get(name)
    return v[m - 1] if m is not None and isinstance(v, list) and len(v) >= m else v


def result_phrases(step: TraceStep, before: dict[str, object]) -> list[str]:
    """What a step's changes mean, the caller's own per-importer results first, then global effects."""
    own, common = [], []
    for slot, value in step.changed.items():
        name, m = _slot(slot)
        if name in _SILENT:
            continue
        phrase = PHRASES[name](m, value, _value(before, slot)) if name in PHRASES else f"{slot}={value}"
        if phrase:
            (own if m is not None and m in step.params else common).append(phrase)
    return own + common


@dataclass
class CallLine:
    """One step as a call: ``step``, the thread it runs on, the call text and what it returned."""

    step: int
    lane: str
    call: str
    returns: str  # the name the call returns into ("sgt2"), or ""
    result: list[str]

    def text(self) -> str:
        tail = ""
        if self.returns:
            tail = f" {ARROW} {self.returns}" + (f": {', '.join(self.result)}" if self.result else "")
        elif self.result:
            tail = f"  [{', '.join(self.result)}]"
        return f"{self.lane}: {self.call}{tail}"


def call_line(n: int, step: TraceStep, before: dict[str, object]) -> CallLine:
    call, returns = step.call, ""
    if " -> " in call:  # the template's return value; "dmabuf->resv" (no spaces) is a field access
        call, returns = (x.strip() for x in call.rsplit(" -> ", 1))
    return CallLine(n, lane_of(step.actor), call, returns, result_phrases(step, before))


@dataclass
class Blocked:
    """A call that never completes: on ``lane`` ("" for a remark about the whole trace), and what it waits for."""

    lane: str
    text: str
    waits_for: str = ""  # a short label for the wait-for edge leaving this call
    call: str = ""  # the blocked call itself, members filled in
    action: str = ""  # the model action it belongs to


def blocked_calls(trace: Trace, judge: Judge | None = None) -> list[Blocked]:
    """The calls that never complete; in wait-for cycle order for a deadlock.

    For a deadlock these come from the wait-for cycle of the final state, for a
    lasso from the fences and waits the loop starves: both recomputed from the
    model, so they say what the model says, not what the trace file claims.
    """
    try:
        judge = judge or Judge.for_trace(trace)
    except TraceError:
        return [Blocked("", f"wait-for cycle: {trace.detail}")] if trace.detail else []
    m = judge.model
    out: list[Blocked] = []
    hops = judge.wait_cycle(judge.c.layout.encode(trace.final))
    if trace.loop is not None:
        if trace.loop == trace.length:
            out.append(Blocked("", "the run stays in its last state forever: no action is enabled"))
        else:
            out.append(Blocked("", f"steps {trace.loop + 1}..{trace.length} repeat forever"))
        if not hops:  # no wait-for cycle to show: name the fences and waits the loop starves
            states = [judge.c.layout.encode(s) for s in trace.states()]
            cycle = judge.cycle(states, trace.loop)
            taken = {judge.c.instances[judge.instance(s.action, s.params)] for s in trace.steps[trace.loop:]}
            for name, members in judge.endless_waits(cycle, taken):
                act = m.action_named(name)
                first = format_call(act, members).split(";")[0].strip()
                lane = lane_of(actor_of(m, act, tuple(x - 1 for x in members)))
                out.append(Blocked(lane, f"{first} never returns", "waits forever", first, act.name))
            for fs_name, j in judge.starved_fences(cycle, taken):
                fs = next(f for f in m.fences if f.name == fs_name)
                call = _signal_call(m, fs, j)
                out.append(Blocked("hardware", f"{call} never happens", f"{_fence_label(m, fs, j)} stays pending",
                                   call, fs.signal))
            return out
    holder = {u: v for u, v, _ in hops if judge.node(u)[0] == "lock"}
    for u, v, _why in hops:
        ukind, uobj, umember = judge.node(u)
        vkind, vobj, vmember = judge.node(v)
        if ukind == "actor":  # an actor blocked in a waiting action, on a fence or a lock
            waiting = next((a for a in m.actions if a.waits is not None and a.waits.on is vobj), None)
            what = format_call(waiting, _members_of(u)).split(";")[0].strip() if waiting else "wait"
            target = _fence_label(m, vobj, vmember) if vkind == "fence" else getattr(vobj, "kernel", "") or v
            held = f", held by {holder[v]}" if vkind == "lock" and v in holder else ""
            out.append(Blocked(lane_of(u), f"{what} blocks, waiting for {target}{held}", f"waits for {target}", what,
                               waiting.name if waiting else ""))
        elif ukind == "fence" and vkind == "lock":  # a fence whose signal needs a held lock
            needs = getattr(vobj, "kernel", "") or v
            held = holder.get(v, "?")
            call = _signal_call(m, uobj, umember)
            out.append(Blocked("hardware", f"{call} never happens: it needs {needs}, held by {held}",
                               f"needs {v.split(' ', 1)[1]}, held by {held}", call, uobj.signal))
    if hops:
        out.append(Blocked("", "wait-for cycle: " + f" {ARROW} ".join([u for u, _, _ in hops] + [hops[0][0]])))
    elif judge.kind == "deadlock" and "driver" in trace.params:
        for who, call, why in stuck_threads(trace, trace.final):
            out.append(Blocked(lane_of(who), f"{call} never returns: it {why}", why, call))
    elif judge.kind == "deadlock":
        out.append(Blocked("", "no thread can make any call, and the dma-buf was never released"))
    return out


def _members_of(node: str) -> list[int]:
    """importer 2 -> [2]; exporter -> []: the member an actor node stands for, for its call template."""
    tail = node.rsplit(" ", 1)[-1]
    return [int(tail)] if tail.isdigit() else []


def _signal_call(model, fs, member: int | None) -> str:
    return format_call(model.action_named(fs.signal), [member] if member is not None else [])


def _fence_label(model, fs, member: int | None) -> str:
    """How a call names the fence: the argument of its signal call (job2_fence), else the node name."""
    call = _signal_call(model, fs, member)
    if "(" in call and call.endswith(")"):
        return call.split("(", 1)[1][:-1]
    return fs.name if member is None else f"{fs.name} {member}"


def render_calls_text(trace: Trace, *, by_thread: bool = False, why: Explanation | None = None) -> str:
    """The trace as per-thread kernel API calls, ending with the blocked calls and the violated rule."""
    lines = [f"{trace.title()}: {trace.property.id} after {trace.length} steps"]
    states = trace.states()
    calls = [call_line(n, s, states[n - 1]) for n, s in enumerate(trace.steps, 1)]
    width = len(str(len(calls)))
    if by_thread:
        for lane in trace.actors():
            mine = [c for c in calls if c.lane == lane]
            lines.append(f"{lane}:" + ("" if mine else " (no calls)"))
            lines += [f"  {c.step:>{width}}. {c.text().split(': ', 1)[1]}" for c in mine]
    else:
        for c in calls:
            if trace.loop is not None and c.step == trace.loop + 1:
                lines.append(f"  {'':>{width}}  ── loop: the steps below repeat forever ──")
            lines.append(f"  {c.step:>{width}}. {c.text()}")
    blocked = blocked_calls(trace)
    if blocked:
        lines.append("never completes:" if trace.property.kind != "invariant" or trace.detail else "at the end:")
        lines += [f"  {b.lane}: {b.text}" if b.lane else f"  {b.text}" for b in blocked]
    why = why or explain(trace)
    rules = ", ".join(trace.property.rules)
    lines.append(f"violated: {trace.property.id}" + (f" ({rules})" if rules else "")
                 + (f" — {trace.property.source}" if trace.property.source else ""))
    lines.append(f"  {why.text}")
    return "\n".join(lines) + "\n"
