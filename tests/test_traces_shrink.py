"""Shrinking: padded traces come back no longer than the BFS ones, lassos stay valid lassos."""

from __future__ import annotations

import json

import pytest
from dmabuf_check.traces.format import dumps, load, loads, save
from dmabuf_check.traces.replay import replay
from dmabuf_check.traces.shrink import ShrinkError, ddmin, shrink
from trace_cases import bfs_trace, lasso_trace, padded

from dmabuf_check.cli import exitcodes
from dmabuf_check.cli.main import build_parser

# irrelevant steps by importer 2 and the exporter, inserted before the given original step
PAD_B1 = {0: [("get", (2,)), ("attach", (2,))],
          3: [("exp_lock", ()), ("exp_unlock", ()), ("detach", (2,)), ("put", (2,)), ("get", (2,)), ("attach", (2,))]}
PAD_B4 = {0: [("get", (2,))],
          2: [("attach", (2,))],
          6: [("lock", (2,)), ("unlock", (2,)), ("detach", (2,)), ("put", (2,)), ("get", (2,))]}
PAD_B6 = {0: [("get", (2,)), ("attach", (2,)), ("detach", (2,))], 2: [("put", (2,))]}


@pytest.mark.parametrize(("variant", "kind", "pad"), [("B1", "static", PAD_B1), ("B4", "dynamic", PAD_B4),
                                                      ("B6", "dynamic", PAD_B6)])
def test_padded_trace_shrinks_to_at_most_the_bfs_length(variant, kind, pad):
    bfs = bfs_trace(variant, kind)
    fat = padded(bfs, pad)
    assert replay(fat).ok and fat.length > bfs.length
    report = shrink(fat)
    assert report.trace.length <= bfs.length
    assert report.steps_before == fat.length and report.removed_steps == fat.length - report.trace.length
    # one importer goes (for B6 either one: the padding lets importer 2 break the rule as well)
    assert report.importers_before == 2 and report.importers_after == 1 and len(report.dropped_importers) == 1
    assert replay(report.trace).ok, replay(report.trace).summary()
    assert report.trace.property == bfs.property
    assert f"removed {report.removed_steps} of {fat.length} steps" in report.summary()
    assert f"dropped importer {report.dropped_importers[0]} (2 -> 1 importers)" in report.summary()
    # keeping the importers still removes every padding step
    kept = shrink(fat, drop_importers=False)
    assert kept.trace.length <= bfs.length and kept.trace.params["importers"] == 2 and replay(kept.trace).ok


def test_dropping_importer_1_renumbers_importer_2():
    """A trace whose bug is carried by importer 2 ends up as importer 1 of a smaller model."""
    bfs = bfs_trace("B5", "static")
    doc = json.loads(dumps(bfs))
    for s in doc["steps"]:
        s["params"] = [2 if p == 1 else p for p in s["params"]]
    swapped = loads(json.dumps(doc))
    from dmabuf_check.traces.evaluate import Judge, from_instances

    judge = Judge.for_trace(swapped)
    ks = [judge.instance(s.action, s.params) for s in swapped.steps]
    as_importer_2 = from_instances(judge, ks, loop=None, like=swapped)
    assert replay(as_importer_2).ok
    report = shrink(as_importer_2)
    assert report.dropped_importers == [1]
    assert all(s.params in ([], [1]) for s in report.trace.steps)
    assert replay(report.trace).ok


@pytest.mark.parametrize("prop", ["fence-signals", "move-completes"])
def test_lasso_shrinks_to_a_valid_lasso(prop):
    lasso = lasso_trace(prop)
    report = shrink(lasso)
    assert report.trace.is_lasso
    assert report.trace.length <= lasso.length
    assert replay(report.trace).ok, replay(report.trace).summary()


def test_move_completes_shrinks_to_a_stuttering_end():
    """With one importer the exporter's wait ends in a state where nothing is enabled: the loop is that state."""
    report = shrink(lasso_trace("move-completes"))
    t = report.trace
    assert t.params["importers"] == 1 and t.loop == t.length == 8
    assert replay(t).ok


def test_shrinking_a_diverged_trace_is_refused(tmp_path, capsys):
    doc = json.loads(dumps(bfs_trace("B1", "static")))
    doc["steps"][2]["state"]["pins"] = 2
    bad = loads(json.dumps(doc))
    with pytest.raises(ShrinkError, match="does not replay"):
        shrink(bad)
    args = build_parser().parse_args(["trace", "shrink", str(save(bad, tmp_path / "bad.json")),
                                      "-o", str(tmp_path / "out.json")])
    assert args.run(args) == exitcodes.VIOLATED
    assert not (tmp_path / "out.json").exists()


def test_shrink_cli_writes_the_shrunk_trace(tmp_path, capsys):
    fat = save(padded(bfs_trace("B1", "static"), PAD_B1), tmp_path / "fat.json")
    out = tmp_path / "small.json"
    args = build_parser().parse_args(["trace", "shrink", str(fat), "-o", str(out)])
    assert args.run(args) == exitcodes.OK
    assert "removed 8 of 14 steps" in capsys.readouterr().out
    small = load(out)
    assert small.length == 6 and small.note.startswith("shrunk from 14 steps") and replay(small).ok


def test_ddmin_finds_a_one_minimal_subsequence():
    # the "failure" needs a then c (in order); everything else is noise
    items = [(x, ()) for x in "xaybzcw"]

    def test(cand):
        names = [n for n, _ in cand]
        return cand if "a" in names and "c" in names and names.index("a") < names.index("c") else None

    assert [n for n, _ in ddmin(items, test)] == ["a", "c"]
