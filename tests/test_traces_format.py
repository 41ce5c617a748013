"""The trace file format: round trip, atomic writes, and one clear message per way a file can be bad."""

from __future__ import annotations

import json
import os

import pytest
from dmabuf_check.model.types import ModelError
from dmabuf_check.traces import format as fmt
from dmabuf_check.traces.format import (
    SCHEMA,
    CorruptTraceError,
    TraceError,
    TraceVersionError,
    TruncatedTraceError,
    UnknownActionError,
    UnknownModelError,
    UnknownPropertyError,
    dumps,
    load,
    loads,
    save,
)
from dmabuf_check.traces.itf import to_itf
from dmabuf_check.traces.replay import replay
from trace_cases import bfs_trace, lasso_trace

from dmabuf_check.cli import exitcodes
from dmabuf_check.cli.main import build_parser


def run_trace_cli(*argv: str) -> int:
    args = build_parser().parse_args(["trace", *argv])
    return args.run(args)


def test_round_trip_keeps_everything(tmp_path):
    trace = bfs_trace("B4", "dynamic")
    path = save(trace, tmp_path / "sub" / "b4.json")
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA
    assert data["tool"]["name"] == "dmabuf-check" and data["tool"]["version"]
    assert data["params"] == {"importers": 2, "kind": "dynamic", "variant": "B4"}
    assert data["property"]["id"] == "no-fence-wait-deadlock" and data["property"]["rules"] == ["DL-1", "DL-2", "SIG-3"]
    assert data["property"]["source"].startswith("dma-fence.c")
    assert data["detail"] == "exporter -> fence 1 -> lock resv -> exporter"
    step = data["steps"][3]
    assert step["action"] == "map" and step["params"] == [1] and step["actor"] == "importer 1"
    assert step["kernel"] == "dma_buf_map_attachment"
    assert step["call"] == "dma_buf_map_attachment(att1, DMA_BIDIRECTIONAL) -> sgt1"
    assert step["changed"] == {"storage": "SYS", "map[1]": 1, "loc[1]": "SYS"}
    assert step["state"]["map"] == [1, 0]
    assert data["loop"] is None
    assert load(path) == trace
    # one line per step, so two traces diff step by step
    assert len(path.read_text().splitlines()) == len(data) + 2 + trace.length + 1


def test_lasso_round_trip():
    trace = lasso_trace("fence-signals")
    assert trace.loop is not None and trace.is_lasso
    assert loads(dumps(trace)) == trace
    assert trace.states()[-1] == trace.states()[trace.loop]
    assert to_itf(trace)["loop"] == trace.loop


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "t.json"
    save(bfs_trace("B6", "static"), path)
    before = path.read_text()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fmt.os, "replace", boom)
    with pytest.raises(fmt.OutputError, match="No space left on device"):
        save(bfs_trace("B1", "static"), path)
    assert path.read_text() == before  # the old file is intact
    assert os.listdir(tmp_path) == ["t.json"]  # and no temporary file is left behind


def _bad_files(tmp_path):
    good = dumps(bfs_trace("B1", "static"))
    doc = json.loads(good)
    files = {
        "truncated": good[: len(good) // 2],
        "empty": "",
        "corrupt": good.replace('"steps": [', '"steps": [}', 1),
        "binary": b"\x89PNG\r\n\x1a\n\xff\xfe",
        "version": json.dumps({**doc, "schema": "dmabuf-check trace v2"}),
        "foreign": json.dumps({"vars": [], "states": []}),
        "shape": json.dumps({**doc, "steps": "none"}),
        "model": json.dumps({**doc, "model": "r9"}),
        "params": json.dumps({**doc, "params": {"importers": 0, "kind": "static", "variant": "B1"}}),
        "action": json.dumps({**doc, "steps": [{**doc["steps"][0], "action": "teleport"}] + doc["steps"][1:]}),
        "member": json.dumps({**doc, "steps": [{**doc["steps"][0], "params": [7]}] + doc["steps"][1:]}),
        "property": json.dumps({**doc, "property": {**doc["property"], "id": "no-such-property"}}),
    }
    paths = {}
    for name, content in files.items():
        p = tmp_path / f"{name}.json"
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        paths[name] = p
    return paths


EXPECTED = {
    "truncated": (TruncatedTraceError, "ends early"),
    "empty": (TruncatedTraceError, "is empty"),
    "corrupt": (CorruptTraceError, "is not valid JSON"),
    "binary": (CorruptTraceError, "is not a text file"),
    "version": (TraceVersionError, "trace schema 'dmabuf-check trace v2' is not supported"),
    "foreign": (TraceVersionError, "not a dmabuf-check trace"),
    "shape": (CorruptTraceError, "'steps' should be list"),
    "model": (UnknownModelError, "unknown model 'r9'"),
    "params": (UnknownModelError, "do not fit model r1"),
    "action": (UnknownActionError, "no action 'teleport'"),
    "member": (UnknownActionError, "there is no importer 7"),
    "property": (UnknownPropertyError, "no property 'no-such-property'"),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_bad_file_has_its_own_error(tmp_path, name):
    path = _bad_files(tmp_path)[name]
    cls, message = EXPECTED[name]
    with pytest.raises(cls, match=message) as err:
        replay(load(path))
    assert isinstance(err.value, TraceError) and isinstance(err.value, ModelError)  # the CLI's exit code 2


@pytest.mark.parametrize("name", list(EXPECTED))
@pytest.mark.parametrize("action", ["replay", "show", "shrink", "export"])
def test_cli_rejects_bad_files_with_exit_2_and_one_line(tmp_path, capsys, name, action):
    path = _bad_files(tmp_path)[name]
    extra = {"replay": [], "show": [], "shrink": ["-o", str(tmp_path / "o.json")],
             "export": ["--as", "itf", "-o", str(tmp_path / "o.itf.json")]}[action]
    code = run_trace_cli(action, str(path), *extra)
    err = capsys.readouterr().err
    if action in ("show", "export") and name in ("action", "member", "property", "params", "model"):
        # show and export read the file without judging it against the model, unless they must
        assert code in (exitcodes.OK, exitcodes.USAGE)
        if code == exitcodes.OK:
            return
    assert code == exitcodes.USAGE
    assert err.count("\n") == 1 and err.startswith("dmabuf-check: error: ") and "Traceback" not in err
    assert EXPECTED[name][1].split("'")[0] in err


def test_missing_file_is_exit_2(capsys, tmp_path):
    assert run_trace_cli("replay", str(tmp_path / "nope.json")) == exitcodes.USAGE
    assert "no trace file" in capsys.readouterr().err


def _edited(trace, edit):
    doc = json.loads(dumps(trace))
    edit(doc)
    return loads(json.dumps(doc))


def test_replay_reports_the_first_divergent_step(tmp_path, capsys):
    trace = bfs_trace("B3", "dynamic")

    def wrong_state(doc):
        doc["steps"][3]["state"]["loc"] = ["VRAM", "NONE"]
        doc["steps"][5]["state"]["pins"] = 1

    report = replay(_edited(trace, wrong_state))
    assert not report.ok and report.divergence is not None
    assert report.divergence.step == 4 and report.divergence.label == "map(1)"
    assert report.divergence.differences == [("loc[1]", "VRAM", "SYS")]
    assert "step 4 (map(1))" in report.summary() and "loc[1]: trace has 'VRAM', model gives 'SYS'" in report.summary()

    def swapped(doc):
        doc["steps"][2], doc["steps"][3] = doc["steps"][3], doc["steps"][2]

    report = replay(_edited(trace, swapped))
    assert report.divergence.step == 3 and "not enabled" in report.divergence.reason

    def wrong_changes(doc):
        doc["steps"][0]["changed"] = {}

    report = replay(_edited(trace, wrong_changes))
    assert report.divergence.step == 1 and report.divergence.differences == [("ref[1]", "<unchanged>", 1)]

    def wrong_initial(doc):
        doc["initial"]["storage"] = "SYS"

    assert replay(_edited(trace, wrong_initial)).divergence.step == 0

    path = save(_edited(trace, wrong_state), tmp_path / "bad.json")
    assert run_trace_cli("replay", str(path)) == exitcodes.VIOLATED
    assert "replay diverged at step 4" in capsys.readouterr().out


def test_replay_of_a_prefix_does_not_reproduce(tmp_path, capsys):
    def drop_last(doc):
        doc["steps"].pop()

    short = _edited(bfs_trace("B1", "static"), drop_last)
    report = replay(short)
    assert report.divergence is None and not report.reproduced and not report.ok
    assert "the final state satisfies no-migration-while-mapped" in report.message
    assert run_trace_cli("replay", str(save(short, tmp_path / "s.json"))) == exitcodes.VIOLATED


def test_replay_ok_via_cli(tmp_path, capsys):
    assert run_trace_cli("replay", str(save(bfs_trace("B4", "dynamic"), tmp_path / "b4.json"))) == exitcodes.OK
    out = capsys.readouterr().out
    assert out.startswith("replay ok: all 8 steps match the model")
    assert "fence 1 -> lock resv: fence 1 cannot signal while resv is held" in out


@pytest.mark.parametrize("prop", ["fence-signals", "move-completes"])
def test_lasso_replay_checks_closure_and_fairness(prop):
    trace = lasso_trace(prop)
    assert replay(trace).ok, replay(trace).summary()

    def open_loop(doc):  # point the loop somewhere the last state does not return to
        doc["loop"] = 1

    report = replay(_edited(trace, open_loop))
    assert not report.ok and "the loop does not close" in report.message
    as_finite = _edited(trace, lambda d: d.update(loop=None))
    assert "must be a lasso" in replay(as_finite).message


def test_every_cut_of_a_trace_file_reads_as_truncated():
    """Wherever a write is interrupted, the reader says 'truncated', not 'corrupt'."""
    good = dumps(bfs_trace("B4", "dynamic"))
    for cut in range(0, len(good) - 2, 5):
        with pytest.raises(TruncatedTraceError):
            loads(good[:cut])


def test_itf_integers():
    trace = bfs_trace("B1", "static")
    plain = to_itf(trace)
    assert plain["states"][3]["pins"] == 1 and plain["states"][3]["map"] == [True, False]
    quint = to_itf(trace, bigint="always")
    assert quint["states"][3]["pins"] == {"#bigint": "1"}
    from dmabuf_check.traces.itf import _value, itf_states

    assert _value(2**60, False, False) == {"#bigint": str(2**60)}  # beyond a double's exact range
    assert itf_states(quint) == trace.states()
    with pytest.raises(ValueError):
        to_itf(trace, bigint="sometimes")
