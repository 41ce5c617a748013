"""Sequence charts of a trace: a self-contained SVG, and Mermaid ``sequenceDiagram`` text.

SVG: one vertical lane per actor (exporter, importer 1..N, hardware); every
step is a box on its actor's lane holding the kernel call and what it
returned; a dashed arrow marks each hand-off between threads (that is where
the interleaving matters); move_notify is drawn as an arrow to the importer
it invalidates. Calls that never complete (a wait-for cycle, a starved fence)
are red boxes joined by red arrows in cycle order, and the footer names the
violated rule, its kernel source and the derived explanation. No external
tool or font is needed: text is monospace, so widths are computed here.

Mermaid: the actors are participants plus a ``dma-buf`` participant that
receives the calls (a sequence diagram needs a callee); results come back as
dashed replies, a lasso is a ``loop`` block, blocked calls end in ``-x``.
"""

from __future__ import annotations

import textwrap

from dmabuf_check.traces.explain import Explanation, explain
from dmabuf_check.traces.format import Trace, lane_of, xml_escape
from dmabuf_check.traces.render_calls import CallLine, blocked_calls, call_line

LANE_W = 300
LEFT = 64  # step numbers and the loop bracket
TITLE_H = 64
HEAD_H = 34
CHAR_W = 7.25  # 12px monospace advance, close enough for every common monospace font
LINE_H = 15
SMALL_H = 14
GAP = 16
COLORS = {"exporter": "#1f6f8b", "hardware": "#8b3a8b"}
IMPORTER_COLORS = ["#2e7d32", "#b26a00", "#3949ab", "#00897b", "#6d4c41", "#c2185b"]


def _color(lane: str, lanes: list[str]) -> str:
    if lane in COLORS:
        return COLORS[lane]
    return IMPORTER_COLORS[lanes.index(lane) % len(IMPORTER_COLORS)] if lane in lanes else "#555555"


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False, subsequent_indent="  ") or [""]


def _text(x: float, y: float, lines: list[str], size: int = 12, fill: str = "#111111", weight: str = "normal",
          style: str = "normal", anchor: str = "start", step: int = LINE_H) -> str:
    spans = "".join(f'<tspan x="{x:.1f}" dy="{0 if k == 0 else step}">{xml_escape(t)}</tspan>'
                    for k, t in enumerate(lines))
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" font-weight="{weight}" '
            f'font-style="{style}" text-anchor="{anchor}">{spans}</text>')


def _arrow(x1: float, y1: float, x2: float, y2: float, color: str, dash: str = "", curve: float = 0.0) -> str:
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    marker = "arrow-red" if color == "#c62828" else "arrow"
    if curve:
        mx, my = (x1 + x2) / 2 + curve, (y1 + y2) / 2
        d = f"M{x1:.1f},{y1:.1f} Q{mx:.1f},{my:.1f} {x2:.1f},{y2:.1f}"
    else:
        d = f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"
    return f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.6"{dash_attr} marker-end="url(#{marker})"/>'


def to_svg(trace: Trace, why: Explanation | None = None) -> str:
    """The trace as one self-contained SVG document."""
    why = why or explain(trace)
    lanes = trace.actors()
    width = LEFT + LANE_W * len(lanes) + 16
    chars = int((LANE_W - 28) / CHAR_W)
    cx = {lane: LEFT + LANE_W * k + LANE_W / 2 for k, lane in enumerate(lanes)}
    body: list[str] = []
    y = TITLE_H + HEAD_H + 18
    states = trace.states()
    boxes: list[tuple[float, float, float, str]] = []  # (top, bottom, center x, lane) per step
    loop_top = 0.0
    for n, st in enumerate(trace.steps, 1):
        line: CallLine = call_line(n, st, states[n - 1])
        lane = line.lane if line.lane in cx else lanes[-1]
        call_lines = _wrap(line.call + (f" → {line.returns}" if line.returns else ""), chars)
        result_lines = [x for r in line.result for x in _wrap(r, chars + 1)]
        h = 10 + LINE_H * len(call_lines) + SMALL_H * len(result_lines) + 4
        if trace.loop is not None and n == trace.loop + 1:
            loop_top = y - 6
        x0 = cx[lane] - LANE_W / 2 + 10
        color = _color(lane, lanes)
        tip = xml_escape(f"{n}. {st.actor}: {st.label}  " + ", ".join(f"{k}={v}" for k, v in st.changed.items()))
        body.append(f'<g class="step" id="step-{n}"><title>{tip}</title>'
                    f'<rect x="{x0:.1f}" y="{y:.1f}" width="{LANE_W - 20}" height="{h}" rx="6" '
                    f'fill="#ffffff" stroke="{color}" stroke-width="1.6"/>')
        body.append(_text(x0 + 8, y + 16, call_lines, fill="#111111"))
        if result_lines:
            body.append(_text(x0 + 8, y + 16 + LINE_H * len(call_lines), result_lines, size=11, fill=color,
                              style="italic", step=SMALL_H))
        body.append("</g>")
        body.append(_text(LEFT - 10, y + 16, [f"{n}"], fill="#444444", weight="bold", anchor="end"))
        if boxes and boxes[-1][3] != lane:  # a hand-off between threads: the interleaving point
            _, pb, px, _ = boxes[-1]
            body.append(_arrow(px, pb, cx[lane], y - 1, "#888888", "4 3"))
        for slot, value in st.changed.items():  # move_notify reaches the importers whose mappings it invalidates
            if slot.startswith("stale[") and value == 1:
                target = f"importer {slot[6:-1]}"
                if target in cx and target != lane:
                    start = cx[lane] + (LANE_W / 2 - 10) * (1 if cx[target] > cx[lane] else -1)  # the box edge
                    body.append(_arrow(start, y + h / 2, cx[target], y + h / 2, "#e65100", "2 3"))
                    body.append(_text((start + cx[target]) / 2, y + h / 2 - 5, ["move_notify"], size=11,
                                      fill="#e65100", anchor="middle"))
        boxes.append((y, y + h, cx[lane], lane))
        y += h + GAP
    if trace.loop is not None and trace.loop < trace.length and boxes:
        bottom = y - GAP + 4
        body.append(f'<path d="M{LEFT - 26},{loop_top:.1f} h-10 V{bottom:.1f} h10" fill="none" '
                    f'stroke="#444444" stroke-width="1.5"/>')
        body.append(f'<text x="{LEFT - 40}" y="{(loop_top + bottom) / 2:.1f}" font-size="11" fill="#444444" '
                    f'transform="rotate(-90 {LEFT - 40} {(loop_top + bottom) / 2:.1f})" text-anchor="middle">'
                    f'loop</text>')
        body.append(_arrow(LEFT - 36, bottom, LEFT - 36, loop_top + 2, "#444444"))

    blocked = blocked_calls(trace)
    notes = [b.text for b in blocked if b.lane not in cx and b.text.split(":")[0] not in why.text]
    red = [b for b in blocked if b.lane in cx]
    if red:
        # the blocked calls are concurrent: one row, joined by the wait-for edges in cycle order
        y += 6
        body.append(_text(LEFT, y, ["never completes:"], fill="#c62828", weight="bold"))
        cyclic = len(red) > 1 and len({b.lane for b in red}) == len(red)
        y += 30 if cyclic else 12  # room for the wait-for edges drawn above the boxes
        wrapped = [_wrap(b.text, chars) for b in red]
        h = 12 + LINE_H * max(len(w) for w in wrapped)
        centers = []
        for b, lines in zip(red, wrapped):
            x0 = cx[b.lane] - LANE_W / 2 + 10
            body.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{LANE_W - 20}" height="{h}" rx="6" fill="#ffebee" '
                        f'stroke="#c62828" stroke-width="2" stroke-dasharray="6 3"/>')
            body.append(_text(x0 + 8, y + 17, lines, fill="#b71c1c"))
            centers.append(cx[b.lane])
        if boxes and boxes[-1][3] in [b.lane for b in red]:
            body.append(_arrow(boxes[-1][2], boxes[-1][1], boxes[-1][2], y - 1, "#888888", "4 3"))
        for k, b in enumerate(red if cyclic else []):
            x1, x2 = centers[k], centers[(k + 1) % len(red)]
            above = k % 2 == 0  # alternate sides so the edges of a 2-cycle do not overlap
            ey = y if above else y + h
            bend = -34 if above else 34
            d = f"M{x1:.1f},{ey:.1f} C{x1:.1f},{ey + bend:.1f} {x2:.1f},{ey + bend:.1f} {x2:.1f},{ey:.1f}"
            body.append(f'<path d="{d}" fill="none" stroke="#c62828" stroke-width="1.8" '
                        f'marker-end="url(#arrow-red)"/>')
            if b.waits_for:
                body.append(_text((x1 + x2) / 2, ey + bend * 0.75 + (-7 if above else 17), [b.waits_for], size=11,
                                  fill="#c62828", anchor="middle", weight="bold"))
        y += h + GAP + (40 if cyclic and len(red) > 1 else 0)
    # footer: the violated rule, its source, and why
    foot_chars = int((width - LEFT - 16) / CHAR_W)
    rules = ", ".join(trace.property.rules)
    foot = [(f"violated: {trace.property.id}" + (f" ({rules})" if rules else ""), "#c62828", "bold")]
    if trace.property.source:
        foot += [(x, "#444444", "normal") for x in _wrap(f"kernel source: {trace.property.source}", foot_chars)]
    foot += [(x, "#111111", "normal") for x in _wrap(f"why: {why.text}", foot_chars)]
    foot += [(x, "#444444", "normal") for n in notes for x in _wrap(n, foot_chars)]
    y += 8
    body.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{width - 16}" y2="{y:.1f}" stroke="#cccccc"/>')
    y += 20
    for text, color, weight in foot:
        body.append(_text(LEFT, y, [text], fill=color, weight=weight))
        y += LINE_H + 2
    height = int(y + 12)

    head: list[str] = []
    for lane in lanes:
        color = _color(lane, lanes)
        x = cx[lane]
        head.append(f'<line x1="{x:.1f}" y1="{TITLE_H + HEAD_H}" x2="{x:.1f}" y2="{height - 20}" stroke="{color}" '
                    f'stroke-opacity="0.35" stroke-dasharray="3 4"/>')
        head.append(f'<rect x="{x - LANE_W / 2 + 10:.1f}" y="{TITLE_H}" width="{LANE_W - 20}" height="{HEAD_H - 6}" '
                    f'rx="4" fill="{color}"/>')
        head.append(_text(x, TITLE_H + 19, [lane], fill="#ffffff", weight="bold", anchor="middle"))
    title = [f"{trace.title()}: {trace.property.id} violated after {trace.length} steps",
             trace.property.meaning]
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">',
        f"<title>{xml_escape(title[0])}</title>",
        "<defs>",
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#888888"/></marker>',
        '<marker id="arrow-red" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c62828"/></marker>',
        "</defs>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa"/>',
        _text(16, 26, [title[0]], size=15, weight="bold"),
        _text(16, 46, [title[1]], size=12, fill="#444444"),
        *head,
        *body,
        "</svg>",
        "",
    ])


# ---- Mermaid ------------------------------------------------------------------


def _mm(text: str) -> str:
    """Escape text for a Mermaid message: ';' ends a statement and '#' starts an entity code."""
    return text.replace("#", "#35;").replace(";", "#59;")


def _pid(lane: str) -> str:
    return lane.replace(" ", "_")


def to_mermaid(trace: Trace, why: Explanation | None = None) -> str:
    """The trace as a Mermaid ``sequenceDiagram``."""
    why = why or explain(trace)
    lanes = trace.actors()
    out = ["sequenceDiagram", f"    title {_mm(trace.title())}: {_mm(trace.property.id)}"]
    out += [f"    participant {_pid(lane)} as {lane}" for lane in lanes]
    out.append("    participant dmabuf as dma-buf")
    states = trace.states()
    for n, st in enumerate(trace.steps, 1):
        if trace.loop is not None and n == trace.loop + 1:
            out.append("    loop repeats forever")
        line = call_line(n, st, states[n - 1])
        who = _pid(line.lane if line.lane in lanes else lanes[-1])
        ind = "        " if trace.loop is not None and n > trace.loop else "    "
        out.append(f"{ind}{who}->>dmabuf: {n}. {_mm(line.call)}")
        if line.returns or line.result:
            reply = (line.returns + (": " if line.result else "") if line.returns else "") + ", ".join(line.result)
            out.append(f"{ind}dmabuf-->>{who}: {_mm(reply)}")
        for slot, value in st.changed.items():
            if slot.startswith("stale[") and value == 1 and f"importer {slot[6:-1]}" in lanes:
                out.append(f"{ind}dmabuf-)importer_{slot[6:-1]}: move_notify")
    if trace.loop is not None and trace.loop < trace.length:
        out.append("    end")
    for b in blocked_calls(trace):
        if b.lane in lanes:
            out.append(f"    {_pid(b.lane)}-xdmabuf: {_mm(b.text)}")
    first, last = _pid(lanes[0]), _pid(lanes[-1])
    rules = ", ".join(trace.property.rules)
    out.append(f"    Note over {first},{last}: violated {_mm(trace.property.id)} ({_mm(rules)}): {_mm(why.text)}")
    return "\n".join(out) + "\n"


def lanes_used(trace: Trace) -> list[str]:
    """The lanes that have at least one step (used by exports that skip idle threads)."""
    used = {lane_of(s.actor) for s in trace.steps}
    return [lane for lane in trace.actors() if lane in used]


__all__ = ["lanes_used", "to_mermaid", "to_svg"]
