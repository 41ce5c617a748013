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

from traces.evaluate import Judge, format_call
from traces.explain import Explanation, explain
from traces.format import Trace, TraceError, TraceStep, lane_of

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
            for name in judge.endless_waits(cycle, taken):
                act = m.action_named(name)
                first = format_call(act, []).split(";")[0].strip()
                out.append(Blocked(lane_of(act.actor), f"{first} never returns", "waits forever", first, act.name))
            for fs_name, j in judge.starved_fences(cycle, taken):
                sig = m.action_named(next(f.signal for f in m.fences if f.name == fs_name))
                out.append(Blocked("hardware", f"{format_call(sig, [j])} never happens", f"job{j}_fence stays pending",
                                   format_call(sig, [j]), sig.name))
            return out
    holder = {u: v for u, v, _ in hops if u.startswith("lock ")}
    fence_prefixes = tuple(f"{fs.name} " for fs in m.fences)
    for u, v, _why in hops:
        if v.startswith(fence_prefixes):  # an actor waiting for a fence
            fs = next(f for f in m.fences if v.startswith(f.name + " "))
            j = int(v.rsplit(" ", 1)[1])
            waiting = next((a for a in m.actions if a.waits is not None and a.waits.on.name == fs.name), None)
            what = format_call(waiting, []).split(";")[0].strip() if waiting else "wait"
            sig = m.action_named(fs.signal)
            target = format_call(sig, [j]).split("(", 1)[1].rstrip(")") if "(" in sig.call else v
            out.append(Blocked(lane_of(u), f"{what} blocks, waiting for {target}", f"waits for {target}", what,
                               waiting.name if waiting else ""))
        elif u.startswith(fence_prefixes) and v.startswith("lock "):
            fs = next(f for f in m.fences if u.startswith(f.name + " "))
            j = int(u.rsplit(" ", 1)[1])
            lock = next((lk for lk in m.locks if f"lock {lk.name}" == v), None)
            needs = lock.kernel if lock is not None and lock.kernel else v
            held = holder.get(v, "?")
            sig = m.action_named(fs.signal)
            out.append(Blocked("hardware", f"{format_call(sig, [j])} never happens: it needs {needs}, held by {held}",
                               f"needs {v.split(' ', 1)[1]}, held by {held}", format_call(sig, [j]), sig.name))
    if hops:
        out.append(Blocked("", "wait-for cycle: " + f" {ARROW} ".join([u for u, _, _ in hops] + [hops[0][0]])))
    elif judge.kind == "deadlock":
        out.append(Blocked("", "no thread can make any call, and the dma-buf was never released"))
    return out


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
