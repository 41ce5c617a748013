"""Terminal rendering of a trace (rich): numbered steps, who did what, and what changed.

The default view shows only the variables each step changed, as
``old → new``, because a reader follows a race by its changes; ``full=True``
shows every variable after every step (per-importer variables as one column,
importer 1 first) with the changed cells highlighted. The violated property,
its kernel rule and source, and the derived explanation close the view.
"""

from __future__ import annotations

import io

from dmabuf_check.traces.explain import Explanation, explain
from dmabuf_check.traces.format import Trace, lane_of
from dmabuf_check.traces.render_calls import render_calls_text
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

LANE_STYLES = ["cyan", "green", "yellow", "blue", "bright_green", "bright_yellow", "bright_blue"]


def lane_style(trace: Trace, actor: str) -> str:
    lane = lane_of(actor)
    if lane == "hardware":
        return "magenta"
    lanes = trace.actors()
    return LANE_STYLES[lanes.index(lane) % len(LANE_STYLES)] if lane in lanes else "white"


def _slot_value(state: dict[str, object], slot: str) -> object:
    if slot.endswith("]") and "[" in slot:
        name, m = slot[:-1].split("[", 1)
        v = state.get(name)
        if isinstance(v, list) and m.isdigit() and int(m) <= len(v):
            return v[int(m) - 1]
    return state.get(slot)


def _show(v: object) -> str:
    return " ".join(map(str, v)) if isinstance(v, list) else str(v)


def header(trace: Trace) -> Text:
    t = Text()
    t.append(trace.title(), style="bold")
    t.append("  ")
    t.append(f"{trace.property.id} violated", style="bold red")
    t.append(f" after {trace.length} steps" + (f" (lasso, loop back to state {trace.loop})" if trace.is_lasso else ""))
    if trace.property.meaning:
        t.append(f"\n  property: {trace.property.meaning}")
    if trace.property.rules or trace.property.source:
        t.append(f"\n  rule {', '.join(trace.property.rules)}: {trace.property.source}", style="dim")
    meta = ", ".join(x for x in (f"engine {trace.engine}" if trace.engine else "",
                                 f"dmabuf-check {trace.tool_version}", trace.note) if x)
    t.append(f"\n  {meta}", style="dim")
    return t


def changes_table(trace: Trace) -> Table:
    """Steps with only the changed variables."""
    tab = Table(show_edge=False, pad_edge=False, header_style="bold")
    tab.add_column("#", justify="right")
    tab.add_column("actor", no_wrap=True)
    tab.add_column("action", no_wrap=True)
    tab.add_column("kernel", no_wrap=True, style="dim")
    tab.add_column("changes")
    states = trace.states()
    for n, s in enumerate(trace.steps, 1):
        if trace.loop is not None and n == trace.loop + 1:
            tab.add_section()
            tab.add_row("", Text("↻ loop", style="bold"), Text("steps below repeat forever", style="italic"), "", "")
        changes = Text()
        for k, (slot, new) in enumerate(s.changed.items()):
            if k:
                changes.append(", ")
            changes.append(slot, style="bold")
            changes.append(f" {_show(_slot_value(states[n - 1], slot))} → {_show(new)}")
        if not s.changed:
            changes.append("(no change)", style="dim")
        tab.add_row(str(n), Text(s.actor, style=lane_style(trace, s.actor)), s.label, s.kernel, changes)
    if trace.loop is not None and trace.loop == trace.length:
        tab.add_section()
        tab.add_row("", Text("↻ stutter", style="bold"), Text("no action is enabled: stays here forever",
                                                             style="italic"), "", "")
    return tab


def full_table(trace: Trace) -> Table:
    """Every variable after every step; changed cells are highlighted."""
    names = list(trace.initial)
    tab = Table(show_edge=False, pad_edge=False, header_style="bold")
    tab.add_column("#", justify="right")
    tab.add_column("actor", no_wrap=True)
    tab.add_column("action", no_wrap=True)
    for name in names:
        per = isinstance(trace.initial[name], list)
        tab.add_column(escape(f"{name}[1..]") if per else name, no_wrap=True)
    tab.add_row("0", "", Text("initial", style="italic"), *[Text(_show(trace.initial[v])) for v in names])
    prev = trace.initial
    for n, s in enumerate(trace.steps, 1):
        if trace.loop is not None and n == trace.loop + 1:
            tab.add_section()
        cells = []
        for v in names:
            text = Text()
            old, new = prev.get(v), s.state.get(v)
            if isinstance(new, list):
                for m, x in enumerate(new):
                    if m:
                        text.append(" ")
                    was = old[m] if isinstance(old, list) and m < len(old) else None
                    text.append(str(x), style="bold reverse" if was != x else "")
            else:
                text.append(str(new), style="bold reverse" if old != new else "")
            cells.append(text)
        tab.add_row(str(n), Text(s.actor, style=lane_style(trace, s.actor)), s.label, *cells)
        prev = s.state
    return tab


def renderable(trace: Trace, *, full: bool = False, why: Explanation | None = None) -> Group:
    why = why or explain(trace)
    parts: list = [header(trace), Text("")]
    if not full:
        init = ", ".join(f"{k}={_show(v)}" for k, v in trace.initial.items())
        parts.append(Text(f"initial: {init}", style="dim"))
    parts.append(full_table(trace) if full else changes_table(trace))
    tail = Text("\n")
    tail.append("why: ", style="bold red")
    tail.append(why.text)
    if trace.detail and trace.property.id != "no-fence-wait-deadlock":
        tail.append(f"\n{trace.detail}", style="dim")
    parts.append(tail)
    return Group(*parts)


def render(trace: Trace, console: Console | None = None, *, full: bool = False, calls: bool = False) -> None:
    """Print the trace; ``calls=True`` adds the per-thread kernel API call view."""
    console = console or Console()
    why = explain(trace)
    console.print(renderable(trace, full=full, why=why))
    if calls:
        console.print()
        console.print(Text(render_calls_text(trace, why=why)))


def render_text(trace: Trace, *, full: bool = False, calls: bool = False, width: int = 120, color: bool = False) -> str:
    """The terminal rendering as a string (what a test, a log or an e-mail gets)."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="standard" if color else None,
                      highlight=False)
    render(trace, console, full=full, calls=calls)
    return buf.getvalue()
