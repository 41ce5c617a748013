"""One sentence per counterexample saying what went wrong, in the reader's terms.

Every explanation is computed from the trace: the final state says *what* is
wrong (which importer, which placement), the step history says *when* it went
wrong (the step that moved the buffer, dropped the reference, took the lock).
Nothing is keyed on the variant name, so a new bug in the same protocol gets
a correct sentence too. A property without a dedicated explainer gets the
generic "the final state violates ..." line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dmabuf_check.model.driver.objects import ident
from dmabuf_check.traces.evaluate import Judge, format_call
from dmabuf_check.traces.format import Trace, TraceError


@dataclass
class Explanation:
    property: str
    text: str
    importers: list[int] = field(default_factory=list)  # the importers the violation is about
    step: int | None = None  # the step that broke the property, when one stands out
    where: tuple[str, int] | None = None  # a driver program: the source line of the call that breaks the rule


def _get(state: dict[str, object], name: str, member: int | None = None) -> object:
    v = state.get(name)
    if member is None:
        return v
    return v[member - 1] if isinstance(v, list) and len(v) >= member else None


def _members(state: dict[str, object]) -> range:
    n = max((len(v) for v in state.values() if isinstance(v, list)), default=0)
    return range(1, n + 1)


def last_change(trace: Trace, slot: str, value: object = None) -> int | None:
    """The last step (1-based) that set ``slot`` (to ``value`` when given)."""
    for n in range(len(trace.steps), 0, -1):
        ch = trace.steps[n - 1].changed
        if slot in ch and (value is None or ch[slot] == value):
            return n
    return None


def _at(trace: Trace, n: int | None) -> str:
    if n is None:
        return ""
    return f" at step {n} ({trace.steps[n - 1].label})"


def _map_after_attach(t: Trace, s: dict) -> Explanation | None:
    bad = [i for i in _members(s) if _get(s, "map", i) == 1 and _get(s, "att", i) == 0]
    if not bad:
        return None
    i = bad[0]
    k = last_change(t, f"att[{i}]", 0)
    return Explanation(t.property.id, f"importer {i} still maps the buffer (sgt{i}) but is no longer attached: "
                       f"it detached{_at(t, k)} while the mapping was live", bad, k)


def _attach_holds_ref(t: Trace, s: dict) -> Explanation | None:
    bad = [i for i in _members(s) if _get(s, "att", i) == 1 and _get(s, "ref", i) == 0]
    if not bad:
        return None
    i = bad[0]
    k = last_change(t, f"ref[{i}]", 0)
    tail = ("; that was the last reference, so the dma-buf was released under a live attachment"
            if _get(s, "released") == 1 else "; the attachment now relies on someone else's reference")
    return Explanation(t.property.id, f"importer {i} is still attached (att{i}) but dropped its dma-buf reference"
                       f"{_at(t, k)}{tail}", bad, k)


def _no_migration_while_mapped(t: Trace, s: dict) -> Explanation | None:
    storage = _get(s, "storage")
    bad = [i for i in _members(s)
           if _get(s, "map", i) == 1 and _get(s, "stale", i) == 0 and _get(s, "loc", i) != storage]
    if not bad:
        return None
    i = bad[0]
    k = last_change(t, "storage")
    before = t.states()[k - 1] if k else s
    pins = _get(before, "pins")
    if isinstance(pins, int) and pins > 0:
        why = f"while the mapping was pinned (pin count {pins})"
    else:
        why = f"and move_notify never invalidated the mapping (stale[{i}] is still 0)"
    return Explanation(t.property.id, f"importer {i} still maps {_get(s, 'loc', i)}, but the buffer now lives in "
                       f"{storage}: the exporter moved it{_at(t, k)} {why}", bad, k)


def _dma_targets_current_storage(t: Trace, s: dict) -> Explanation | None:
    storage = _get(s, "storage")
    bad = [i for i in _members(s)
           if _get(s, "fence", i) == 1 and not (_get(s, "map", i) == 1 and _get(s, "loc", i) == storage)]
    if not bad:
        return None
    i = bad[0]
    sub = last_change(t, f"fence[{i}]", 1)
    if _get(s, "map", i) != 1:
        return Explanation(t.property.id, f"importer {i}'s DMA job (job{i}_fence, submitted{_at(t, sub)}) is still "
                           f"running, but importer {i} no longer maps the buffer", bad, last_change(t, f"map[{i}]", 0))
    mv = last_change(t, "storage")
    return Explanation(t.property.id, f"importer {i}'s DMA job (job{i}_fence, submitted{_at(t, sub)}) still targets "
                       f"{_get(s, 'loc', i)}, but the buffer now lives in {storage}: the exporter moved it"
                       f"{_at(t, mv)} without waiting for the fence", bad, mv)


def _pin_count(t: Trace, s: dict) -> Explanation | None:
    mapped = [i for i in _members(s) if _get(s, "map", i) == 1]
    pins = _get(s, "pins")
    static = t.params.get("kind") == "static"
    want = len(mapped) if static else 0
    if pins == want:
        return None
    k = last_change(t, "pins")
    who = ", ".join(f"importer {i}" for i in mapped) or "no importer"
    return Explanation(t.property.id, f"the pin count is {pins} but should be {want} "
                       f"({who} maps the buffer{', statically' if static else ', dynamically'})", mapped, k)


def _release_is_final(t: Trace, s: dict) -> Explanation | None:
    if _get(s, "released") != 1:
        return None
    k = last_change(t, "released", 1)
    left = ["the exporter still holds its reference"] if _get(s, "exp_ref") == 1 else []
    bad = []
    for i in _members(s):
        held = [what for var, what in (("ref", "a reference"), ("att", "an attachment"), ("map", "a mapping"),
                                       ("fence", "a DMA job in flight")) if _get(s, var, i) == 1]
        if held:
            bad.append(i)
            left.append(f"importer {i} still has {' and '.join(held)}")
    if not left:
        return None
    return Explanation(t.property.id, f"the dma-buf was released{_at(t, k)}, yet {'; '.join(left)}", bad, k)


def stuck_threads(t: Trace, s: dict) -> list[tuple[str, str, str]]:
    """A driver program's threads that have not returned in ``s``: (thread, the call it is at, what it waits
    for), read from each thread's program counter and the wait declared by the action at it."""
    try:
        model = Judge.for_trace(t).model
    except TraceError:
        return []
    out = []
    for v in model.variables:
        pc = s.get(v.name)
        if not v.name.startswith("pc_") or not isinstance(pc, str) or not pc.startswith("L"):
            continue
        try:
            act = model.action_named(f"{v.name[3:]}_{pc[1:]}")
        except Exception:  # not a thread's counter
            continue
        w = act.waits
        queued = s.get("queued_" + ident(act.actor))
        if queued == 0 and pc == "L0":
            continue  # an idle work item, never queued (or done and not queued again): nothing holds it up
        if w is not None and hasattr(w.on, "holder"):
            holder = s.get(w.on.holder.name)
            why = f"waits for {w.on.name}, held by {holder}"
        elif w is not None and getattr(w.on, "kernel", "") == "work_struct":
            why = f"waits for {w.on.name.removeprefix('work ')} to finish"
        elif w is not None:
            why = f"waits for {w.on.name}, which never signals"
        else:
            why = "cannot go on: the condition it waits for never holds"
        out.append((act.actor, act.call or act.name, why))
    return out


def _no_stuck_state(t: Trace, s: dict) -> Explanation | None:
    if "driver" in t.params:
        stuck = stuck_threads(t, s)
        parts = [f"{who} is stuck in {call} ({why})" for who, call, why in stuck]
        text = "no thread can make a call and not every thread returned"
        return Explanation(t.property.id, text + (": " + "; ".join(parts) if parts else ""))
    facts = []
    owner = _get(s, "owner")
    if owner not in (None, "FREE"):
        facts.append(f"the reservation lock is held by {'the exporter' if owner == 'EXP' else owner}")
    if _get(s, "exp") == "WAIT":
        facts.append("the exporter is waiting for fences")
    pending = [i for i in _members(s) if _get(s, "fence", i) == 1]
    if pending:
        facts.append("pending fences: " + ", ".join(f"job{i}_fence" for i in pending))
    rest = ": " + "; ".join(facts) if facts else ""
    return Explanation(t.property.id, f"no action can run any more and the dma-buf was never released{rest}", pending)


def _wait_cycle(t: Trace, s: dict) -> Explanation | None:
    hops: list[tuple[str, str, str]] = []
    fences: list[int] = []
    try:
        judge = Judge.for_trace(t)
        hops = judge.wait_cycle(judge.c.layout.encode(s))
        fences = [n[2] for n in (judge.node(u) for u, _, _ in hops) if n[0] == "fence" and n[2] is not None]
    except TraceError:
        pass  # a model this build lacks: fall back to the cycle recorded in the trace
    if not hops and not t.detail:
        return None
    cycle = " → ".join([u for u, _, _ in hops] + [hops[0][0]]) if hops else t.detail.replace("->", "→")
    why = "; ".join(w for _, _, w in hops)
    holder = next((v for u, v, _ in hops if u.startswith("lock ")), "")  # the lock -> holder hop
    owner = _get(s, "owner")
    k = last_change(t, "owner", owner) if owner not in (None, "FREE") else None
    taken = f" ({holder} took the lock at step {k})" if k and holder else ""
    text = f"wait-for cycle {cycle}" + (f": {why}{taken}" if why else "")
    others = "threads" if "driver" in t.params else "importers"
    text += f"; other {others} can keep running, so no state is stuck, yet this wait never ends"
    return Explanation(t.property.id, text, fences, k)


def _lasso(t: Trace, s: dict) -> Explanation | None:
    """A liveness lasso: what starts waiting, when, and which loop keeps it waiting forever."""
    if t.loop is None:
        return None
    judge = Judge.for_trace(t)
    states = [judge.c.layout.encode(x) for x in t.states()]
    found = judge.violated_pair(states, t.loop) if judge.kind == "liveness" else None
    if found is None:
        return None
    cycle = judge.cycle(states, t.loop)
    taken = {judge.c.instances[judge.instance(st.action, st.params)] for st in t.steps[t.loop:]}
    if t.loop == t.length:
        forever = "the run then stops: no action is enabled in its last state"
    else:
        forever = f"steps {t.loop + 1}..{t.length} then repeat forever"
    _, start = found
    since = "from the initial state" if start == 0 else f"from step {start} ({t.steps[start - 1].label}) on"
    fences = judge.starved_fences(cycle, taken)
    waits = judge.endless_waits(cycle, taken)
    if waits:
        act = judge.model.action_named(waits[0][0])
        what = f"the {act.actor} waits for fences {since} and {act.name} never runs"
    elif fences:
        fs = next(f for f in judge.model.fences if f.name == fences[0][0])
        sig = judge.model.action_named(fs.signal)
        call = format_call(sig, [fences[0][1]] if fences[0][1] is not None else [])
        # a design's signal call names its fence (job2_fence); a driver program's fence is named by itself
        fence = call.split("(", 1)[1][:-1] if call.endswith(")") and "(" in call and "driver" not in t.params \
            else fs.name
        what = f"{fence} is pending {since} and never signals"
    else:
        what = f"{t.property.meaning or t.property.id} fails {since}"
    fair = sorted({judge.c.instances[k].action.name for k in judge.fair})
    fairness = f"; the run is fair to {', '.join(fair)}: each is taken or disabled on the loop" if fair else ""
    members = [j for _, j in fences if j is not None]
    return Explanation(t.property.id, f"{what}: {forever}{fairness}", members, start or None)


def _implicit_sync(t: Trace, s: dict) -> Explanation | None:
    for name in sorted(k for k in s if k == "job" or k.startswith("job_b")):
        jobs = {i: _get(s, name, i) for i in _members(s)}
        writers = [i for i, v in jobs.items() if v == "WRITE"]
        others = [i for i, v in jobs.items() if v in ("WRITE", "READ")]
        if writers and len(others) > 1:
            w = writers[-1]
            other = next(i for i in others if i != w)
            started = {i: last_change(t, f"{name}[{i}]", jobs[i]) for i in (w, other)}
            late = max((w, other), key=lambda i: started[i] or 0)
            early = other if late == w else w
            where = "" if name == "job" else f" (buffer {name.removeprefix('job_b')})"
            return Explanation(t.property.id, f"importer {late}'s {jobs[late]} job started{_at(t, started[late])} "
                               f"while importer {early}'s {jobs[early]} job{where} still runs: it did not wait for "
                               f"job{early}_fence, as implicit sync requires", [early, late], started[late])
    return None


EXPLAINERS: dict[str, Callable[[Trace, dict], Explanation | None]] = {
    "implicit-sync-devices": _implicit_sync,
    "map-after-attach": _map_after_attach,
    "attach-holds-ref": _attach_holds_ref,
    "no-migration-while-mapped": _no_migration_while_mapped,
    "dma-targets-current-storage": _dma_targets_current_storage,
    "pin-count": _pin_count,
    "release-is-final": _release_is_final,
    "no-stuck-state": _no_stuck_state,
    "no-fence-wait-deadlock": _wait_cycle,
}


def _driver_program(t: Trace, s: dict) -> Explanation | None:
    """A driver program's rule names the call that breaks it: say which thread is about to make it, and why."""
    if "driver" not in t.params or t.property.kind != "invariant":
        return None
    from dmabuf_check.model.driver.compile import info_of

    try:
        judge = Judge.for_trace(t)
        state = judge.c.layout.encode(s)
        info = info_of(judge.model)
        hits = [(why, info.check_where.get(id(bad))) for bad, why in info.checks.get(t.property.id, [])
                if judge.predicate(bad)(state)]
    except Exception:  # an explanation is a courtesy: the generic sentence stands in
        return None
    if not hits:
        return None
    more = f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""
    return Explanation(t.property.id, f"{hits[0][0]}{more}", step=len(t.steps), where=hits[0][1])


def explain(trace: Trace) -> Explanation:
    """What the final state (or the loop) of ``trace`` shows about its property."""
    fn = _lasso if trace.property.kind == "liveness" else EXPLAINERS.get(trace.property.id)
    found = fn(trace, trace.final) if fn else None
    if found is None and fn is None:
        found = _driver_program(trace, trace.final)
    if found is not None:
        return found
    meaning = trace.property.meaning or trace.property.id
    return Explanation(trace.property.id, f"the final state violates {trace.property.id}: {meaning}")
