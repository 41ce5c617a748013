"""Designs as data (.toml / .json): parsed, never run; the same validation and the same models as Python
designs (issue 13: a design from an untrusted source is reviewed without running code)."""

from __future__ import annotations

import json
import tomllib

import pytest
from dmabuf_check.checker.api import check_model
from dmabuf_check.model import design_data
from dmabuf_check.model.design import Design

from dmabuf_check import registry
from dmabuf_check.cli.main import main

FLAG_DESIGNS = [n for n, r in {**registry.builtin(), **registry.bugs()}.items()
                if isinstance(r.design, Design) and all(op.code is None for op in r.design.ops.values())]


def test_most_designs_have_a_data_form():
    every = [r for r in {**registry.builtin(), **registry.bugs()}.values() if isinstance(r.design, Design)]
    assert len(FLAG_DESIGNS) >= 35 and len(FLAG_DESIGNS) >= len(every) - 10  # only Op(code=...) designs lack one


@pytest.mark.parametrize("name", FLAG_DESIGNS)
def test_every_flag_design_and_bug_round_trips_through_toml_and_json(name):
    ref = registry.resolve(name)
    doc = design_data.to_data(ref.design, ref.bug)
    for text, parse in ((design_data.dumps_toml(doc), tomllib.loads), (json.dumps(doc), json.loads)):
        back = parse(text)
        bug = back.pop("bug", None)
        d = design_data._build(Design, back, name)
        assert d == ref.design
        if ref.bug is not None:
            assert design_data._build(type(ref.bug), bug, name) == ref.bug


@pytest.mark.parametrize("name", ["ttm-vram", "udmabuf", "bug-detach-while-mapped", "bug-move-no-notify"])
def test_the_data_form_checks_to_the_same_result(tmp_path, name, capsys):
    ref = registry.resolve(name)
    path = tmp_path / f"{name}.toml"
    assert main(["list", "--design", name]) == 0
    path.write_text(capsys.readouterr().out)
    a_model, _, a_props = registry.build(ref)
    b_ref = registry.resolve(str(path))
    b_model, _, b_props = registry.build(b_ref)
    a = check_model(a_model, a_props)
    b = check_model(b_model, b_props)
    assert (a.states, a.transitions) == (b.states, b.transitions)
    assert [(v.property, v.status, v.counterexample and v.counterexample.length) for v in a.verdicts] == \
           [(v.property, v.status, v.counterexample and v.counterexample.length) for v in b.verdicts]


BASE = '''name = "heap"
kinds = ["static"]
[ops.map]
[ops.unmap]
[ops.release]
'''


@pytest.mark.parametrize("text,message", [
    (BASE + '[ops.map.x]\n', "unknown field 'x' of Op"),
    (BASE.replace('[ops.map]', '[ops.map]\ncode = "lambda k: k.kmalloc()"'), "an op's code is Python"),
    ('colour = "red"\n' + BASE, "unknown field 'colour' of Design"),
    (BASE.replace('[ops.map]', '[ops.map]\nlocks = "resv"'), "ops['map'].locks"),
    (BASE.replace('name = "heap"', 'name = ["heap"]'), "name must be a string of 1 to 64 characters"),
    (BASE.replace('name = "heap"\n', ''), "name must be a string"),
    (BASE + '[mix]\nstatic = 99\n', "mix: at most 6 importers, got 99"),
    (BASE + '[move]\nnotify = "yes"\n', "move"),
    (BASE + '[bug]\nbase = "x"\n', "bug: Bug.__init__() missing"),
    ("name = \n", "does not parse as TOML"),
    ("a = " + "[" * 3000 + "]" * 3000 + "\n", "nests too deeply"),
])
def test_a_malformed_data_design_is_one_line(tmp_path, capsys, text, message):
    path = tmp_path / "d.toml"
    path.write_text(text)
    assert main(["check", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_loading_a_data_design_runs_nothing(tmp_path, capsys):
    """What would be code in a .py design is a string in a data design: validation names it, nothing runs."""
    marker = tmp_path / "ran"
    path = tmp_path / "evil.toml"
    path.write_text(BASE.replace('kinds = ["static"]', f'kinds = ["__import__(\'os\').mkdir({str(marker)!r})"]'))
    assert main(["check", str(path), "--quiet"]) == 2
    assert "kinds" in capsys.readouterr().err and not marker.exists()
    js = tmp_path / "d.json"
    js.write_text("[1, 2]")
    assert main(["check", str(js), "--quiet"]) == 2
    assert "the document must be a table of design fields, got list" in capsys.readouterr().err


def test_a_trace_of_a_data_design_replays_with_the_file_named(tmp_path, capsys):
    assert main(["list", "--design", "bug-move-no-notify", "--as", "json"]) == 0
    path = tmp_path / "bug.json"
    path.write_text(capsys.readouterr().out)
    out = tmp_path / "traces"
    assert main(["check", str(path), "--quiet", "--trace-dir", str(out)]) == 1
    trace = next(out.glob("*.json"))
    capsys.readouterr()
    assert main(["trace", "replay", str(trace), "--model-file", str(path)]) == 0
    assert "replay ok: all 5 steps match the model" in capsys.readouterr().out


def test_the_documented_data_design_checks(tmp_path, capsys):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "designs.md").read_text()
    block = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "my-heap.toml"
    path.write_text(block)
    assert main(["check", str(path), "--quiet"]) == 0
    assert "properties hold" in capsys.readouterr().out
