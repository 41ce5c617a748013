"""The lock-order graph drawn: Graphviz DOT text and a self-contained SVG.

Nodes are lock classes; an edge A -> B says B was taken while A was held.
Edges that break a locking rule or close a cycle are red, and each edge's
tooltip (SVG ``<title>``) holds the first trace that created it, so the
picture alone says where every dependency comes from.
"""

from __future__ import annotations

import math

from dmabuf_check.checker.locks.order import LockEdge, LockReport
from dmabuf_check.traces.format import xml_escape

RED = "#c0392b"
GREY = "#555555"


def _bad(report: LockReport) -> set[tuple[str, str]]:
    keys = {e.key for c in report.cycles for e in c.edges} | {e.key for e in report.rule_breaks}
    keys |= {e.key for e in report.recursive} | {e.key for e in report.signalling_waits}
    return keys


def _class_edges(report: LockReport) -> dict[tuple[str, str], list[LockEdge]]:
    out: dict[tuple[str, str], list[LockEdge]] = {}
    for e in report.edges:
        out.setdefault((e.src_class, e.dst_class), []).append(e)
    return out


def _tooltip(e: LockEdge) -> str:
    steps = "; ".join(f"{n}. {s.actor}: {s.label}" for n, s in enumerate(e.trace.steps, 1))
    why = (" BREAKS: " + " / ".join(e.breaks)) if e.breaks else ""
    return f"{e.src} -> {e.dst} first by {e.actor}/{e.action}: {steps}{why}"


def to_dot(report: LockReport) -> str:
    bad = _bad(report)
    lines = [f'digraph "lock order: {report.model}" {{', "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    for cls in report.locks:
        lines.append(f'  "{cls}";')
    for (u, v), es in sorted(_class_edges(report).items()):
        red = any(e.key in bad for e in es)
        label = ", ".join(sorted({e.action for e in es}))
        attrs = [f'label="{label}"', f'tooltip="{_tooltip(es[0])}"']
        if red:
            attrs += [f'color="{RED}"', f'fontcolor="{RED}"', "penwidth=2"]
        lines.append(f'  "{u}" -> "{v}" [{", ".join(attrs)}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _half(name: str) -> float:
    """Half the width of a node box (monospace text, 8 px a character, padding)."""
    return (8 * len(name) + 16) / 2


def _border(x: float, y: float, half_w: float, tx: float, ty: float, gap: float = 0.0) -> tuple[float, float]:
    """Where the line from a node's centre towards (tx, ty) leaves its box (half height 14)."""
    dx, dy = tx - x, ty - y
    d = math.hypot(dx, dy) or 1
    t = min(half_w / abs(dx) if dx else math.inf, 14 / abs(dy) if dy else math.inf)
    return x + dx * t + dx / d * gap, y + dy * t + dy / d * gap


def to_svg(report: LockReport) -> str:
    """A circle layout: small graphs (a design has a handful of lock classes) stay readable."""
    bad = _bad(report)
    nodes = report.locks
    n = max(len(nodes), 1)
    w, h = 900, 640
    cx, cy, r = w / 2, h / 2 + 10, min(w, h) / 2 - 110
    pos = {name: (cx + r * math.cos(2 * math.pi * i / n - math.pi / 2), cy + r * math.sin(2 * math.pi * i / n - math.pi / 2))
           for i, name in enumerate(nodes)}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
           'font-family="monospace" font-size="12">',
           "<defs>",
           f'<marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto">'
           f'<path d="M0,0 L10,5 L0,10 z" fill="{GREY}"/></marker>',
           f'<marker id="r" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto">'
           f'<path d="M0,0 L10,5 L0,10 z" fill="{RED}"/></marker>',
           "</defs>",
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="12" y="22" font-size="15" font-weight="bold">lock order: {xml_escape(report.model)} '
           f'{xml_escape(", ".join(f"{k}={v}" for k, v in report.params.items() if v is not None))}</text>',
           f'<text x="12" y="40" fill="{GREY}">A -&gt; B: B taken while A held; red: in a cycle or breaking a rule '
           "(hover an edge for the trace that created it)</text>"]
    for (u, v), es in sorted(_class_edges(report).items()):
        red = any(e.key in bad for e in es)
        (x1, y1), (x2, y2) = pos[u], pos[v]
        if u == v:  # a class nested in itself: a loop above the node
            path = f"M{x1 - 20:.0f},{y1 - 14:.0f} C{x1 - 60:.0f},{y1 - 90:.0f} {x1 + 60:.0f},{y1 - 90:.0f} " \
                   f"{x1 + 20:.0f},{y1 - 14:.0f}"
            lx, ly = x1, y1 - 75
        else:
            dx, dy = x2 - x1, y2 - y1
            d = math.hypot(dx, dy) or 1
            # bend each direction to its own side so A->B and B->A stay apart
            mx, my = (x1 + x2) / 2 - dy / d * 40, (y1 + y2) / 2 + dx / d * 40
            sx, sy = _border(x1, y1, _half(u), mx, my)
            ex, ey = _border(x2, y2, _half(v), mx, my, gap=3)
            path = f"M{sx:.0f},{sy:.0f} Q{mx:.0f},{my:.0f} {ex:.0f},{ey:.0f}"
            lx, ly = 0.25 * sx + 0.5 * mx + 0.25 * ex, 0.25 * sy + 0.5 * my + 0.25 * ey  # on the curve
        color, marker = (RED, "r") if red else (GREY, "a")
        label = ", ".join(sorted({e.action for e in es}))
        out.append(f'<g><title>{xml_escape(_tooltip(es[0]))}</title>'
                   f'<path d="{path}" fill="none" stroke="{color}" stroke-width="{2.5 if red else 1.5}" '
                   f'marker-end="url(#{marker})"/>'
                   f'<text x="{lx:.0f}" y="{ly + 4:.0f}" text-anchor="middle" fill="{color}" stroke="white" '
                   f'stroke-width="4" paint-order="stroke">{xml_escape(label)}</text></g>')
    for name, (x, y) in pos.items():
        tw = 2 * _half(name)
        out.append(f'<g><rect x="{x - tw / 2:.0f}" y="{y - 14:.0f}" width="{tw}" height="28" rx="6" fill="#f4f6f8" '
                   f'stroke="#2c3e50"/><text x="{x:.0f}" y="{y + 4:.0f}" text-anchor="middle">{xml_escape(name)}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
