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
from dmabuf_check.traces.format import Trace, TraceStep, lane_of
from dmabuf_check.traces.render_calls import render_calls_text
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

LANE_STYLES = ["cyan", "green", "yellow", "blue", "bright_green", "bright_yellow", "bright_blue"]
# Past this many steps the steps are printed as aligned lines in chunks instead of one rich table: a table
# measures every cell before printing anything (minutes for a 96,000-step trace), lines stream at once.
LONG_TRACE = 1000
CHUNK = 500


def lane_style(trace: Trace, actor: str, lanes: list[str] | None = None) -> str:
    lane = lane_of(actor)
    if lane == "hardware":
        return "magenta"
    lanes = trace.actors() if lanes is None else lanes
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
    lanes = trace.actors()
    states = trace.states()
    for n, s in enumerate(trace.steps, 1):
        if trace.loop is not None and n == trace.loop + 1:
            tab.add_section()
            tab.add_row("", Text("↻ loop", style="bold"), Text("steps below repeat forever", style="italic"), "", "")
        # Text, not markup: kernel text is full of brackets (fences[idx], [i]) that rich would eat
        tab.add_row(str(n), Text(s.actor, style=lane_style(trace, s.actor, lanes)), Text(s.label), Text(s.kernel),
                    _changes(s, states[n - 1]))
    if trace.loop is not None and trace.loop == trace.length:
        tab.add_section()
        tab.add_row("", Text("↻ stutter", style="bold"), Text("no action is enabled: stays here forever",
                                                             style="italic"), "", "")
    return tab


def _change_parts(s: TraceStep, before: dict[str, object]) -> list[tuple[str, str]]:
    """What a step changed as (text, style) runs: the table's cell and a long trace's line alike."""
    if not s.changed:
        return [("(no change)", "dim")]
    parts: list[tuple[str, str]] = []
    for k, (slot, new) in enumerate(s.changed.items()):
        if k:
            parts.append((", ", ""))
        parts += [(slot, "bold"), (f" {_show(_slot_value(before, slot))} → {_show(new)}", "")]
    return parts


def _changes(s: TraceStep, before: dict[str, object]) -> Text:
    return Text.assemble(*_change_parts(s, before))


class _Lines:
    """Lines printed CHUNK at a time: plain writes when the console has no colour (a pipe, a file), else rich
    Text, so 96,000 steps print in seconds and start printing at once."""

    def __init__(self, console: Console):
        self.console = console
        self.plain = console.color_system is None
        self.parts: list[tuple[str, str]] = []
        self.count = 0

    def add(self, text: str, style: str = "") -> None:
        self.parts.append((text, style))

    def end_line(self) -> None:
        self.parts.append(("\n", ""))
        self.count += 1
        if self.count % CHUNK == 0:
            self.flush()

    def flush(self) -> None:
        if not self.parts:
            return
        if self.plain:
            self.console.file.write("".join(t for t, _ in self.parts))
        else:
            self.console.print(Text.assemble(*self.parts), no_wrap=True, crop=False, overflow="ignore", end="")
        self.parts = []


def _long_steps(trace: Trace, console: Console) -> None:
    """The changes view of a long trace: the table's columns as aligned lines."""
    lanes = trace.actors()
    states = trace.states()
    w = [len(str(trace.length)), max(len(s.actor) for s in trace.steps), max(len(s.label) for s in trace.steps),
         max(len(s.kernel) for s in trace.steps)]
    out = _Lines(console)
    out.add(f"{'#':>{w[0]}}  {'actor':<{w[1]}}  {'action':<{w[2]}}  {'kernel':<{w[3]}}  changes", "bold")
    out.end_line()
    for n, s in enumerate(trace.steps, 1):
        if trace.loop is not None and n == trace.loop + 1:
            out.add(f"{'':>{w[0]}}  ↻ loop  steps below repeat forever", "bold")
            out.end_line()
        out.add(f"{n:>{w[0]}}  ")
        out.add(f"{s.actor:<{w[1]}}", lane_style(trace, s.actor, lanes))
        out.add(f"  {s.label:<{w[2]}}  ")
        out.add(f"{s.kernel:<{w[3]}}", "dim")
        out.add("  ")
        for text, style in _change_parts(s, states[n - 1]):
            out.add(text, style)
        out.end_line()
    if trace.loop is not None and trace.loop == trace.length:
        out.add(f"{'':>{w[0]}}  ↻ stutter  no action is enabled: stays here forever", "bold")
        out.end_line()
    out.flush()


def _long_full(trace: Trace, console: Console) -> None:
    """The full view of a long trace: every variable after every step, as aligned lines."""
    names = list(trace.initial)
    rows = [[str(n), s.actor, s.label, *(_show(s.state.get(v)) for v in names)] for n, s in enumerate(trace.steps, 1)]
    head = ["#", "actor", "action", *(f"{v}[1..]" if isinstance(trace.initial[v], list) else v for v in names)]
    first = ["0", "", "initial", *(_show(trace.initial[v]) for v in names)]
    w = [max(len(r[k]) for r in (head, first, *rows)) for k in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w[0]) if k == 0 else c.ljust(w[k]) for k, c in enumerate(cells)).rstrip()

    out = _Lines(console)
    out.add(line(head), "bold")
    out.end_line()
    out.add(line(first))
    out.end_line()
    for n, r in enumerate(rows, 1):
        if trace.loop is not None and n == trace.loop + 1:
            out.add(f"{'':>{w[0]}}  ↻ loop  steps below repeat forever", "bold")
            out.end_line()
        out.add(line(r))
        out.end_line()
    out.flush()


def _long_text(text: str, console: Console) -> None:
    out = _Lines(console)
    for line in text.split("\n"):
        out.add(line)
        out.end_line()
    out.flush()


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
    lanes = trace.actors()
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
        tab.add_row(str(n), Text(s.actor, style=lane_style(trace, s.actor, lanes)), Text(s.label), *cells)
        prev = s.state
    return tab


def renderable(trace: Trace, *, full: bool = False, why: Explanation | None = None) -> Group:
    why = why or explain(trace)
    return Group(*_head(trace, full), full_table(trace) if full else changes_table(trace), _tail(trace, why))


def _head(trace: Trace, full: bool) -> list[Text]:
    parts = [header(trace), Text("")]
    if not full:
        init = ", ".join(f"{k}={_show(v)}" for k, v in trace.initial.items())
        parts.append(Text(f"initial: {init}", style="dim"))
    return parts


def _tail(trace: Trace, why: Explanation) -> Text:
    tail = Text("\n")
    tail.append("why: ", style="bold red")
    tail.append(why.text)
    if trace.detail and trace.property.id != "no-fence-wait-deadlock":
        tail.append(f"\n{trace.detail}", style="dim")
    return tail


def _table_width(trace: Trace) -> int:
    """How wide the changes table is with its fixed columns whole and 12 columns left for the changes."""
    if not trace.steps:
        return 0
    cols = [len(str(trace.length)), max(len(s.actor) for s in trace.steps), max(len(s.label) for s in trace.steps),
            max(len(s.kernel) for s in trace.steps)]
    return sum(cols) + 2 * len(cols) + 12


def _narrow_steps(trace: Trace, console: Console) -> None:
    """The changes view on a terminal too narrow for the table (a CI log at 80 columns): one record per step,
    its call and its changes wrapped under it, nothing cut off."""
    lanes = trace.actors()
    states = trace.states()
    w = len(str(trace.length))
    indent = " " * (w + 2)
    for n, s in enumerate(trace.steps, 1):
        if trace.loop is not None and n == trace.loop + 1:
            console.print(Text(f"{'':>{w}}  ↻ loop: the steps below repeat forever", style="bold"))
        head = Text(f"{n:>{w}}  ")
        head.append(s.actor, style=lane_style(trace, s.actor, lanes))
        head.append(f"  {s.kernel or s.label}")
        head.append(f"  ({s.label})", style="dim")
        console.print(head, overflow="fold")
        body = Text(indent)
        body.append_text(_changes(s, states[n - 1]))
        console.print(body, overflow="fold")
    if trace.loop is not None and trace.loop == trace.length:
        console.print(Text(f"{'':>{w}}  ↻ stutter: no action is enabled, it stays here forever", style="bold"))


def render(trace: Trace, console: Console | None = None, *, full: bool = False, calls: bool = False) -> None:
    """Print the trace; ``calls=True`` adds the per-thread kernel API call view."""
    console = console or Console()
    why = explain(trace)
    if not full and trace.length <= LONG_TRACE and _table_width(trace) > console.width:
        console.print(Group(*_head(trace, full)))
        _narrow_steps(trace, console)
        console.print(_tail(trace, why))
    elif trace.length > LONG_TRACE:
        console.print(Group(*_head(trace, full)))
        (_long_full if full else _long_steps)(trace, console)
        console.print(_tail(trace, why))
    else:
        console.print(renderable(trace, full=full, why=why))
    if calls:
        console.print()
        text = render_calls_text(trace, why=why)
        if trace.length > LONG_TRACE:  # one Text of 200,000 lines takes rich minutes to wrap
            _long_text(text.removesuffix("\n"), console)
        else:
            console.print(Text(text))


def render_text(trace: Trace, *, full: bool = False, calls: bool = False, width: int = 120, color: bool = False) -> str:
    """The terminal rendering as a string (what a test, a log or an e-mail gets)."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="standard" if color else None,
                      highlight=False)
    render(trace, console, full=full, calls=calls)
    return buf.getvalue()
