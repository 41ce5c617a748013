"""Lock-order reports in lockdep's words.

A kernel engineer reads locking bugs as lockdep splats, so a cycle of the
lock-order graph is printed as one: the "possible circular locking
dependency detected" banner, the lock being acquired and the one held, the
existing dependency chain in reverse order (the model steps that created each
dependency stand in for the stack traces), "Chain exists of:", the CPU0/CPU1
"Possible unsafe locking scenario", and the locks held. Recursive locking
gets lockdep's "possible recursive locking detected" banner; a fence wait
inside a signalling section gets dmabuf-check's own report (lockdep prints
none for it). Everything printed comes from ``checker.locks.order.LockReport``.
"""

from __future__ import annotations

from dataclasses import replace

from dmabuf_check.checker.locks.order import LockCycle, LockEdge, LockReport, UsageConflict
from dmabuf_check.checker.result import Counterexample

VERSION = "dmabuf-check 0.1.0"

# lockdep prints usage bits and wait types after the class name; these are the
# ones a real splat shows for each class (sleeping locks {3:3}, lock maps {0:0})
_DECOR = {
    "dma_fence_map": "{++++}-{0:0}",
    "fs_reclaim": "{+.+.}-{0:0}",
    "reservation_ww_class_acquire": "{+.+.}-{0:0}",
    "reservation_ww_class_mutex": "{+.+.}-{3:3}",
    "mmap_lock": "{++++}-{3:3}",
    "i_mmap_rwsem": "{++++}-{3:3}",
    "mmu_notifier_invalidate_range_start": "{+.+.}-{0:0}",
}


def lock_name(cls: str, instance: str | None = None, usage: dict[str, str] | None = None) -> str:
    """``(class){usage}-{wait}``; an instance is named when one class has several (ABBA). ``usage``: what the
    search saw of a program's locks (``LockReport.usage``), else each class's usual decoration."""
    name = f"{cls}:{instance}" if instance and instance != cls else cls
    return f"({name}){(usage or {}).get(cls) or _DECOR.get(cls, '{+.+.}-{3:3}')}"


def _bare(cls: str, instance: str | None = None) -> str:
    return f"{cls}:{instance}" if instance and instance != cls else cls


def _who(e: LockEdge) -> str:
    return f"{e.actor}/{e.action}"


def _ident(report: LockReport) -> str:
    params = ", ".join(f"{k}={v}" for k, v in report.params.items() if v is not None)
    return f"{VERSION} {report.model} ({params})"


def _trace_lines(trace: Counterexample, indent: str = "       ") -> list[str]:
    """The steps of a trace, standing in for the stack trace of a dependency."""
    lines = [f"{indent}step {n}: {s.actor}: {s.label}" + (f"  [{s.kernel}]" if s.kernel else "")
             for n, s in enumerate(trace.steps, 1)]
    if trace.detail:
        lines.append(f"{indent}({trace.detail})")
    return lines


def _first_taken(e: LockEdge) -> str:
    if e.primed:
        return f"       {e.src_class} -> {e.dst_class} recorded at boot:"
    return f"       {e.src_class} -> {e.dst_class} first taken by {_who(e)}:"


def _names(e: LockEdge, level: str, usage: dict[str, str]) -> tuple[str, str]:
    if level == "instance":
        return lock_name(e.src_class, e.src, usage), lock_name(e.dst_class, e.dst, usage)
    return lock_name(e.src_class, None, usage), lock_name(e.dst_class, None, usage)


def _bares(e: LockEdge, level: str) -> tuple[str, str]:
    if level == "instance":
        return _bare(e.src_class, e.src), _bare(e.dst_class, e.dst)
    return e.src_class, e.dst_class


def same_class(cyc: LockCycle, report: LockReport) -> str:
    """An ABBA between two locks of one class, as lockdep sees it: lockdep tracks classes, not instances.

    Without an acquire context (ww_mutex_lock(lock, NULL)) the second reservation lock taken while one
    is held is lockdep's "possible recursive locking detected" on reservation_ww_class_mutex; with a
    context on every acquisition (the ww_acquire_ctx is the nest_lock) lockdep says nothing, and the
    deadlock can only come from a context that does not back off on -EDEADLK.
    """
    bare = [e for e in cyc.edges if not e.with_ctx]
    abba = ", ".join(f"{e.src} -> {e.dst} by {_who(e)}" for e in cyc.edges)
    if bare:
        e = bare[0]
        text = recursive(_class_edge(e), report)
        return text + "\n" + "\n".join([
            f"dmabuf-check: lockdep sees one class here; the instances form an ABBA ({abba})",
            _verdict(cyc)])
    return "\n".join(["", f"dmabuf-check: ABBA between locks of class {cyc.edges[0].src_class} ({abba}), every "
                           "acquisition under a ww acquire context: lockdep reports nothing (the context is the "
                           "nest_lock)", _verdict(cyc)])


def _class_edge(e: LockEdge) -> LockEdge:
    """The edge as lockdep names it: both ends by their class."""
    return replace(e, src=e.src_class, dst=e.dst_class)


def circular(cyc: LockCycle, report: LockReport) -> str:
    """One cycle as lockdep's "possible circular locking dependency detected" splat."""
    new = cyc.edges[-1]  # the dependency whose addition closes the cycle
    chain = cyc.edges[:-1]  # source -> ... -> target, already in the graph
    target_name, source_name = _names(new, cyc.level, report.usage)
    target, source = _bares(new, cyc.level)
    parent = _bares(chain[-1], cyc.level)[0] if chain else source
    out = [
        "",
        "======================================================",
        "WARNING: possible circular locking dependency detected",
        _ident(report),
        "------------------------------------------------------",
        f"{_who(new)} is trying to acquire lock:",
        f" {source_name}, at: {new.action}" + (f" [{new.call}]" if new.call else ""),
        "",
        "but task is already holding lock:",
        f" {target_name}, at: {new.action} (held on entry)",
        "",
        "which lock already depends on the new lock.",
        "",
        "",
        "the existing dependency chain (in reverse order) is:",
    ]
    entries = [(len(chain) - i, _names(e, cyc.level, report.usage)[1], e) for i, e in enumerate(reversed(chain))]
    for depth, name, e in entries:
        out += ["", f"-> #{depth} {name}:", _first_taken(e)]
        out += _trace_lines(e.trace)
    out += ["", f"-> #0 {source_name}:", _first_taken(new)]
    out += _trace_lines(new.trace)
    out += ["", "other info that might help us debug this:", ""]
    if parent != source:
        out += ["Chain exists of:", f"  {source} --> {parent} --> {target}", ""]
    first = "rlock" if new.src_read else "lock"
    out += [
        " Possible unsafe locking scenario:",
        "",
        "       CPU0                    CPU1",
        "       ----                    ----",
        f"  {first}({target});",
        f"                               lock({parent});",
        f"                               lock({target});",
        f"  lock({source});",
        "",
        " *** DEADLOCK ***",
        "",
    ]
    out += _held(new, report.usage)
    broken = [(e, why) for e in cyc.edges for why in e.breaks]
    if broken:
        out += ["", "locking rules these dependencies break:"]
        out += [f"  {e.src_class} -> {e.dst_class} ({_who(e)}): {why}" for e, why in broken]
    out += ["", _verdict(cyc)]
    return "\n".join(out)


def _held(e: LockEdge, usage: dict[str, str]) -> list[str]:
    held = e.held or [(e.src, e.src_class)]
    n = len(held)
    lines = [f"{n} lock{'s' if n != 1 else ''} held by {_who(e)}:"]
    lines += [f" #{i}: {lock_name(cls, None, usage)}, at: {e.action}" for i, (_, cls) in enumerate(held)]
    return lines


def _verdict(cyc: LockCycle) -> str:
    if cyc.level == "instance" and all(e.with_ctx for e in cyc.edges) and cyc.actual is not None:
        return (f"dmabuf-check: ACTUAL deadlock in this configuration: every lock is taken under a ww acquire "
                f"context, but -EDEADLK is not backed off (RESV-W2): {cyc.actual.property} after "
                f"{cyc.actual.length} steps ({cyc.actual.detail or 'a state where no action is enabled'})")
    if cyc.actual is not None:
        what = cyc.actual.detail or "a state where no action is enabled"
        return (f"dmabuf-check: ACTUAL deadlock in this configuration: {cyc.actual.property} after "
                f"{cyc.actual.length} steps ({what})")
    return f"dmabuf-check: potential deadlock: {cyc.potential}"


def recursive(e: LockEdge, report: LockReport, note: str = "") -> str:
    """lockdep's "possible recursive locking detected" for one edge."""
    same = e.src == e.dst
    held = lock_name(e.src_class, None if same else e.src, report.usage)
    acq = lock_name(e.dst_class, None if same else e.dst, report.usage)
    first = "rlock" if e.src_read else "lock"
    out = [
        "",
        "============================================",
        "WARNING: possible recursive locking detected",
        _ident(report),
        "--------------------------------------------",
        f"{_who(e)} is trying to acquire lock:",
        f" {acq}, at: {e.action}" + (f" [{e.call}]" if e.call else ""),
        "",
        "but task is already holding lock:",
        f" {held}, at: {e.action} (held on entry)",
        *_one_cpu_scenario(),
        f"  {first}({_bare(e.src_class, None if same else e.src)});",
        f"  lock({_bare(e.dst_class, None if same else e.dst)});",
        "",
        " *** DEADLOCK ***",
        "",
        f" {note}" if note else " May be due to missing lock nesting notation",
        "",
    ]
    out += _held(e, report.usage)
    out += ["", f"{e.src_class} -> {e.dst_class} first taken by {_who(e)}:"]
    out += _trace_lines(e.trace)
    if e.actual is not None:
        out += ["", f"dmabuf-check: ACTUAL deadlock in this configuration: {e.actual.property} after "
                    f"{e.actual.length} steps ({e.actual.detail or 'a state where no action is enabled'})"]
    return "\n".join(out)


def signalling_wait(e: LockEdge, report: LockReport) -> str:
    """A fence wait inside a signalling section: dmabuf-check's own report, since lockdep prints none.

    __dma_fence_might_wait() drops the section's read hold on dma_fence_map before taking it for
    write, so lockdep reports no recursion; the hazard (DL-12) is that the waited fence needs this
    section to signal, which is a wait-for cycle.
    """
    out = [
        "",
        "dmabuf-check: fence wait inside a dma_fence signalling critical section (SIG-3, DL-12)",
        f"  {_who(e)} waits on a fence" + (f" [{e.call}]" if e.call else "")
        + " while it runs on the signalling path of another fence",
        "  lockdep prints nothing for this wait itself: __dma_fence_might_wait() drops the read hold on",
        "  dma_fence_map before taking it for write; it reports only locks held at the wait.",
        "  The hazard: the waited fence needs this very path (or what it blocks) to signal.",
    ]
    if e.actual is not None:
        out += [f"dmabuf-check: ACTUAL deadlock in this configuration: {e.actual.property} after "
                f"{e.actual.length} steps ({e.actual.detail})"]
    else:
        out += ["dmabuf-check: no wait-for cycle through this wait in this configuration (the rule still "
                "forbids it: a fence that waits on other fences must not be on their completion paths)"]
    out += ["", "first reached by:"]
    out += _trace_lines(e.trace)
    return "\n".join(out)


def slow_holding(e: LockEdge, report: LockReport) -> str:
    """A ww transaction calling lock_slow while it still holds another lock of its context (RESV-W2)."""
    out = [
        "",
        "======================================================",
        "WARNING: ww_mutex lock_slow while the acquire context still holds locks",
        _ident(report),
        "------------------------------------------------------",
        f"{_who(e)} is calling lock_slow on:",
        f" {lock_name(e.dst_class, e.dst, report.usage)}, at: {e.action} [{e.call}]",
        "",
        "but the context still holds:",
        f" {lock_name(e.src_class, e.src, report.usage)}",
        "",
        " after -EDEADLK a ww transaction must drop every lock of its context before lock_slow (RESV-W2);",
        " holding one keeps the older transaction waiting on it while this one waits for the contended lock",
        "",
        f"{e.src_class} -> {e.dst_class} first taken by {_who(e)}:",
        *_trace_lines(e.trace),
    ]
    return "\n".join(out)


def rule_break(e: LockEdge, report: LockReport) -> str:
    out = [
        "",
        "------------------------------------------------------",
        f"locking rule broken: {e.src_class} -> {e.dst_class} by {_who(e)}",
        *(f"  {why}" for why in e.breaks),
        f"first taken by {_who(e)}:",
        *_trace_lines(e.trace),
    ]
    return "\n".join(out)


def _one_cpu_scenario() -> list[str]:
    """The head of lockdep's single-CPU "Possible unsafe locking scenario"."""
    return ["", "other info that might help us debug this:", " Possible unsafe locking scenario:", "",
            "       CPU0", "       ----"]


def _registration(u: UsageConflict, tag: str) -> list[str]:
    """Where lockdep first recorded one usage: the run to the step, then the step itself."""
    action, run = u.registered[tag]
    return [f"{{{tag}}} state was registered at:", *_trace_lines(run, "  "),
            f"  step {run.length + 1}: {action}  <- registers {tag}"]


def inconsistent(u: UsageConflict, report: LockReport) -> str:
    """lockdep's "inconsistent lock state": the lock was taken in IRQ context and with that IRQ enabled."""
    other = next(t for t in u.registered if t != u.first)
    taker = u.registered[other][0]  # the step that registers the newer, conflicting usage
    irq = "<Interrupt>" if u.state == "HARDIRQ" else "<SoftIRQ>"
    out = [
        "",
        "================================",
        "WARNING: inconsistent lock state",
        _ident(report),
        "--------------------------------",
        f"inconsistent {{{u.first}}} -> {{{other}}} usage.",
        f"{taker.split('  [')[0].replace(': ', '/', 1)} takes:",
        f" {lock_name(u.lock_class, u.lock, report.usage)}, at: {taker.split(': ', 1)[-1]}",
        *_registration(u, u.first),
        *_registration(u, other),
        *_one_cpu_scenario(),
        f"  lock({_bare(u.lock_class, u.lock)});",
        f"  {irq}",
        f"    lock({_bare(u.lock_class, u.lock)});",
        "",
        " *** DEADLOCK ***",
        "",
        f"dmabuf-check: both usages are reached after {u.both.length} steps (irq-inconsistent-lock, LOCKDEP-4):",
        *_trace_lines(u.both),
    ]
    return "\n".join(out)


def render(report: LockReport) -> str:
    """The whole report: every cycle, recursive locking, signalling waits, broken rules; or the all-clear."""
    parts: list[str] = []
    for cyc in report.cycles:
        parts.append(same_class(cyc, report) if cyc.level == "instance" else circular(cyc, report))
    for e in report.recursive:
        parts.append(recursive(e, report))
    for e in report.slow_holding:
        parts.append(slow_holding(e, report))
    for e in report.signalling_waits:
        parts.append(signalling_wait(e, report))
    for u in report.inconsistent:
        parts.append(inconsistent(u, report))
    in_cycle = {e.key for c in report.cycles for e in c.edges}
    for e in report.rule_breaks:
        if e.key not in in_cycle:
            parts.append(rule_break(e, report))
    parts.append("")
    parts.append(summary(report))
    return "\n".join(parts)


def summary(report: LockReport) -> str:
    n_edges, n_locks = len(report.edges), len(report.locks)
    primed = f", with the {len(report.primed)} dependencies dma_resv_lockdep() primes at boot" if report.primed else ""
    if report.clean:
        return (f"no lock-order cycle: {n_edges} edges over {n_locks} locks{primed} "
                f"({report.states:,} states explored)")
    bits = []
    if report.cycles:
        bits.append(f"{len(report.cycles)} lock-order cycle{'s' if len(report.cycles) != 1 else ''}")
    if report.recursive:
        bits.append(f"{len(report.recursive)} recursive locking")
    if report.slow_holding:
        bits.append(f"{len(report.slow_holding)} lock_slow while holding")
    if report.signalling_waits:
        bits.append(f"{len(report.signalling_waits)} fence wait(s) in a signalling section")
    if report.rule_breaks:
        bits.append(f"{len(report.rule_breaks)} edge(s) breaking a locking rule")
    if report.inconsistent:
        bits.append(f"{len(report.inconsistent)} inconsistent lock state")
    return f"{', '.join(bits)}: {n_edges} edges over {n_locks} locks{primed} ({report.states:,} states explored)"
