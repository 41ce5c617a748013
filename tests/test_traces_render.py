"""Terminal, per-thread and chart renderings: what a reader actually sees."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

from dmabuf_check.traces.chart import to_mermaid, to_svg
from dmabuf_check.traces.explain import explain
from dmabuf_check.traces.format import dumps, loads, save
from dmabuf_check.traces.render_calls import render_calls_text
from dmabuf_check.traces.render_terminal import render, render_text
from rich.console import Console
from trace_cases import bfs_trace, lasso_trace

from dmabuf_check.cli.main import build_parser


def test_terminal_shows_numbered_steps_and_only_the_changes():
    text = render_text(bfs_trace("B1", "static"), width=140)
    assert "r1 (importers=2, kind=static, variant=B1)  no-migration-while-mapped violated after 6 steps" in text
    assert "rule MIG-4, MIG-5, MAP-8: dma_buf_ops.pin/unpin doc" in text
    lines = text.splitlines()
    row = next(line for line in lines if line.lstrip().startswith("3 "))
    assert "importer 1" in row and "map(1)" in row and "pins 0 → 1" in row and "loc[1] NONE → SYS" in row
    assert "stale" not in row  # unchanged variables are not shown
    row6 = next(line for line in lines if line.lstrip().startswith("6 "))
    assert "exporter" in row6 and "storage SYS → VRAM" in row6
    assert "why: importer 1 still maps SYS, but the buffer now lives in VRAM" in text


def test_terminal_full_view_shows_every_variable():
    text = render_text(bfs_trace("B4", "dynamic"), full=True, width=200)
    header = next(line for line in text.splitlines() if "storage" in line and "actor" in line)
    for name in ("storage", "pins", "owner", "exp", "exp_ref", "released", "ref[1..]", "fence[1..]"):
        assert name in header
    row0 = next(line for line in text.splitlines() if line.lstrip().startswith("0 "))
    assert "initial" in row0 and "UNALLOC" in row0 and "NONE NONE" in row0
    row8 = next(line for line in text.splitlines() if line.lstrip().startswith("8 "))
    assert "WAIT" in row8 and "EXP" in row8


def test_terminal_colors_changed_cells_when_asked():
    text = render_text(bfs_trace("B6", "static"), full=True, color=True, width=200)
    assert "\x1b[" in text  # the changed cells are highlighted


def test_rich_console_capture_of_a_lasso():
    console = Console(record=True, width=150, file=io.StringIO())
    render(lasso_trace("fence-signals"), console, calls=True)
    text = console.export_text()
    assert "fence-signals violated after" in text and "(lasso, loop back to state 5)" in text
    assert "↻ loop" in text
    assert "job1_fence is pending from step 5 (submit(1)) on and never signals" in text
    assert "hardware: dma_fence_signal(job1_fence) never happens" in text


def test_calls_by_thread():
    text = render_calls_text(bfs_trace("B4", "dynamic"), by_thread=True)
    sections = text.split("\n")
    exp = sections.index("exporter:")
    assert sections[exp + 1].strip() == "7. dma_resv_lock(dmabuf->resv, NULL)"
    assert "importer 2: (no calls)" in sections and "hardware: (no calls)" in sections
    assert "  hardware: dma_fence_signal(job1_fence) never happens: it needs dma_resv_lock(dmabuf->resv), " \
           "held by exporter" in sections


def test_move_notify_is_drawn_to_the_importer_it_invalidates():
    # B3: the mapping of importer 1 is live when the exporter moves: move_notify reaches it
    trace = bfs_trace("B3", "dynamic")
    root = ET.fromstring(to_svg(trace))
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "move_notify" in texts
    assert "dmabuf-)importer_1: move_notify" in to_mermaid(trace)


def test_lasso_mermaid_has_a_balanced_loop_block():
    mm = to_mermaid(lasso_trace("move-completes"))
    assert "    loop repeats forever" in mm and mm.count("\n    end") == 1
    assert "exporter-xdmabuf: dma_resv_wait_timeout" in mm


def test_show_command(tmp_path, capsys):
    path = save(bfs_trace("B5", "static"), tmp_path / "b5.json")
    args = build_parser().parse_args(["trace", "show", str(path), "--calls", "--width", "150"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "map-after-attach violated after 4 steps" in out
    assert "4. importer 1: dma_buf_detach(dmabuf, att1)" in out


def test_export_command_writes_each_format(tmp_path, capsys):
    path = save(bfs_trace("B2", "dynamic"), tmp_path / "b2.json")
    for fmt, check in (("itf", lambda t: '"#meta"' in t), ("mermaid", lambda t: t.startswith("sequenceDiagram")),
                       ("svg", lambda t: ET.fromstring(t) is not None), ("pytest", lambda t: "def test_r1_" in t),
                       ("kunit", lambda t: "KUNIT_CASE(" in t)):
        out = tmp_path / f"out.{fmt}"
        args = build_parser().parse_args(["trace", "export", str(path), "--as", fmt, "-o", str(out)])
        assert args.run(args) == 0
        assert check(out.read_text()), fmt
    args = build_parser().parse_args(["trace", "export", str(path), "--as", "mermaid", "-o", "-"])
    assert args.run(args) == 0
    assert capsys.readouterr().out.startswith("sequenceDiagram")
    # a kernel selftest drives uAPI only: an in-kernel trace is refused, pointing to KUnit
    args = build_parser().parse_args(["trace", "export", str(path), "--as", "kselftest", "-o", str(tmp_path / "k.c")])
    assert args.run(args) == 2
    assert "export it with --as kunit" in capsys.readouterr().err and not (tmp_path / "k.c").exists()


def _with_final(trace, prop_id, **changes):
    """``trace`` relabelled as a counterexample to ``prop_id`` whose final state has ``changes``."""
    doc = json.loads(dumps(trace))
    doc["property"]["id"] = prop_id
    doc["steps"][-1]["state"].update(changes)
    return loads(json.dumps(doc))


def test_explanations_of_the_properties_no_variant_breaks():
    """pin-count, release-is-final and no-stuck-state read the final state like the others."""
    b1 = bfs_trace("B1", "static")  # ends with importer 1 mapped, pins 1
    pins = explain(_with_final(b1, "pin-count", pins=2))
    assert pins.text == "the pin count is 2 but should be 1 (importer 1 maps the buffer, statically)"
    assert pins.importers == [1]
    released = explain(_with_final(bfs_trace("B6", "static"), "release-is-final", released=1, exp_ref=0))
    assert released.text.startswith("the dma-buf was released, yet importer 1 still has an attachment")
    stuck = explain(_with_final(bfs_trace("B4", "dynamic"), "no-stuck-state"))
    assert stuck.text == ("no action can run any more and the dma-buf was never released: the reservation lock is "
                          "held by the exporter; the exporter is waiting for fences; pending fences: job1_fence")
    unknown = explain(_with_final(b1, "some-new-property"))
    assert unknown.text.startswith("the final state violates some-new-property")


def _walk_trace(steps: int):
    """A trace of ``steps`` random steps of R1 (3 dynamic importers) that never reaches a dead end."""
    import random

    from dmabuf_check.checker import paths
    from dmabuf_check.model import r1
    from dmabuf_check.model.pycompile import Compiled
    from dmabuf_check.traces.evaluate import from_counterexample

    m = r1.build(3, "dynamic")
    c = Compiled(m)
    rng, s, path = random.Random(1), c.initial, []
    while len(path) < steps:
        k, s = rng.choice([(k, t) for k, t in c.successors(s) if any(True for _ in c.successors(t))])
        path.append(k)
    return from_counterexample(paths.counterexample(c, "fence-signals", path), m, engine="random-walk")


def _cells(text: str) -> list[list[str]]:
    """The words of each line, without the table's box drawing."""
    import re

    lines = (re.sub("[\u2500-\u257f]", " ", line) for line in text.splitlines())
    return [line.split() for line in lines if line.strip()]


def test_a_long_trace_prints_the_same_rows_as_lines(monkeypatch):
    """Past LONG_TRACE steps the table becomes aligned lines printed in chunks (a 96,000-step trace printed in
    minutes as a table, 4.5 s as lines); every view carries the same cells as the table does."""
    from dmabuf_check.traces import render_terminal

    trace = _walk_trace(1200)
    assert trace.length > render_terminal.LONG_TRACE
    for full in (False, True):
        long = render_text(trace, full=full, calls=True, width=400)
        monkeypatch.setattr(render_terminal, "LONG_TRACE", 10**9)
        table = render_text(trace, full=full, calls=True, width=400)
        monkeypatch.undo()
        assert _cells(long) == _cells(table)
        numbered = [r[0] for r in _cells(long) if r[0].isdigit() and len(r) > 2]
        assert numbered[: trace.length + full] == [str(n) for n in range(0 if full else 1, trace.length + 1)]


def test_show_of_a_long_trace_streams_plain_lines_into_a_pipe(tmp_path, capfd):
    from dmabuf_check.cli.main import main

    trace = _walk_trace(1500)
    path = save(trace, tmp_path / "long.json")
    assert main(["trace", "show", str(path)]) == 0
    out = capfd.readouterr().out
    steps = [line for line in out.splitlines() if line[:6].strip().isdigit()]
    assert len(steps) == 1500 and steps[-1].split()[0] == "1500"
    assert "\x1b[" not in out and all(line == line.rstrip() for line in out.splitlines())
