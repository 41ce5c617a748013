"""CI outputs: trace directory, SARIF 2.1.0, JUnit XML and the JSON verdict, from the API and from `check`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dmabuf_check.checker.api import check_model
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.model import r1
from dmabuf_check.properties.r1 import LIVENESS_PROPERTIES, PROPERTIES
from dmabuf_check.traces.ci_outputs import (
    VERDICT_SCHEMA,
    json_verdict,
    junit_xml,
    sarif,
    save_counterexamples,
    save_counterexamples_by_property,
)
from dmabuf_check.traces.format import load
from dmabuf_check.traces.replay import replay
from trace_cases import ROOT

from dmabuf_check.cli.main import main


def b4_keep_going():
    model = r1.build(2, "dynamic", "B4")
    return model, explore(model, PROPERTIES, stop_at_first=False)


def test_save_counterexamples_writes_one_replayable_trace_per_violation(tmp_path):
    model, result = b4_keep_going()
    paths = save_counterexamples(result, tmp_path / "traces", model)
    assert sorted(p.name for p in paths) == ["r1-n2-dynamic-B4-no-fence-wait-deadlock.trace.json",
                                             "r1-n2-dynamic-B4-no-stuck-state.trace.json"]
    for p in paths:
        assert replay(load(p)).ok
    # without the model object, it is rebuilt from the registry
    assert [p.name for p in save_counterexamples(result, tmp_path / "again")] == [p.name for p in paths]


def test_json_verdict_schema(tmp_path):
    model, result = b4_keep_going()
    paths = save_counterexamples_by_property(result, tmp_path, model)
    v = json.loads(json.dumps(json_verdict(result, paths, model)))
    assert v["schema"] == VERDICT_SCHEMA and v["tool"]["name"] == "dmabuf-check"
    assert v["model"] == "r1" and v["parameters"] == {"importers": 2, "kind": "dynamic", "variant": "B4"}
    assert v["engine"] == "explicit-bfs" and v["symmetry"] is True and v["reductions"] == ["symmetry"]
    assert v["verdict"] == "violated" and v["ok"] is False and v["complete"] is True
    assert v["states"] == result.states and set(v["time"]) == {"explore_seconds", "compile_seconds"}
    by = {x["property"]: x for x in v["verdicts"]}
    assert list(by) == [p.id for p in PROPERTIES]
    dead = by["no-fence-wait-deadlock"]
    assert dead["status"] == "violated" and dead["steps"] == 8 and dead["loop"] is None
    assert dead["path"][-1] == "exporter: migrate_begin"
    assert dead["explanation"].startswith("wait-for cycle exporter → fence 1 → lock resv → exporter")
    assert dead["trace"] == str(paths["no-fence-wait-deadlock"])
    held = by["map-after-attach"]
    assert held["status"] == "holds" and held["steps"] is None and held["trace"] is None
    # every documented field is present
    doc = (Path(ROOT) / "docs" / "json-verdict.md").read_text()
    for key in v:
        assert f"| `{key}` |" in doc
    for key in dead:
        assert f"| `{key}` |" in doc


def test_sarif_2_1_0(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # SARIF URIs are relative to the working directory (SRCROOT): the checkout here
    model, result = b4_keep_going()
    paths = save_counterexamples_by_property(result, tmp_path, model)
    log = json.loads(json.dumps(sarif(result, paths, model)))
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [p.id for p in PROPERTIES]
    assert {r["id"] for r in rules if r["properties"]["kernel-source"]} == {p.id for p in PROPERTIES}
    results = run["results"]
    assert sorted(r["ruleId"] for r in results) == ["no-fence-wait-deadlock", "no-stuck-state"]
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"] and res["level"] == "error"
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "model/r1.py" and loc["region"]["startLine"] > 0
        flows = res["codeFlows"][0]["threadFlows"]
        assert {f["id"] for f in flows} <= {"exporter", "importer 1", "importer 2", "hardware"}
        orders = sorted(loc["executionOrder"] for f in flows for loc in f["locations"])
        assert orders == list(range(1, res["properties"]["steps"] + 1))
        assert res["properties"]["trace"] == str(paths[res["ruleId"]])
    # the deadlock is blamed on the action the explanation names: the exporter taking the lock
    dead = next(r for r in results if r["ruleId"] == "no-fence-wait-deadlock")
    line = dead["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert '"exp_lock"' in open(model.source).read().splitlines()[line - 1]


def test_junit_xml(tmp_path):
    model, result = b4_keep_going()
    root = ET.fromstring(junit_xml(result, save_counterexamples_by_property(result, tmp_path, model), model))
    suite = root.find("testsuite")
    assert root.get("tests") == str(len(PROPERTIES)) and root.get("failures") == "2"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == [p.id for p in PROPERTIES]
    fail = cases["no-fence-wait-deadlock"].find("failure")
    assert fail is not None and fail.get("type") == "violated"
    assert "hardware: dma_fence_signal(job1_fence) never happens" in fail.text
    assert "trace file: " in fail.text
    assert cases["map-after-attach"].find("failure") is None


def test_junit_is_valid_against_junit_10_xsd_and_a_cut_run_fails(tmp_path):
    """The common JUnit schema (Jenkins' junit-10.xsd, as pytest's own tests use it), with a real validator:
    a run with failures, a passing run, and a run a state limit cut, whose undecided properties are errors."""
    import xmlschema
    from dmabuf_check.checker.api import Limits

    schema = xmlschema.XMLSchema(str(Path(__file__).parent / "data" / "junit-10.xsd"))
    model, result = b4_keep_going()
    schema.validate(junit_xml(result, save_counterexamples_by_property(result, tmp_path, model), model))
    passing = r1.build(2, "static")
    schema.validate(junit_xml(explore(passing, PROPERTIES), {}, passing))
    big = r1.build(5, "dynamic")
    cut = check_model(big, PROPERTIES, symmetry=False, limits=Limits(max_states=1000))
    assert not cut.complete
    xml = junit_xml(cut, {}, big)
    schema.validate(xml)
    root = ET.fromstring(xml)
    assert root.get("errors") == str(len(PROPERTIES)) and root.get("failures") == "0"
    assert all(c.find("error") is not None for c in root.iter("testcase"))
    with pytest.raises(xmlschema.XMLSchemaValidationError):  # the validator does check: the old attribute
        schema.validate(xml.replace('<testsuites name="dmabuf-check"', '<testsuites skipped="0" name="dmabuf-check"'))


def test_correct_model_outputs():
    model = r1.build(2, "static")
    result = explore(model, PROPERTIES)
    assert json_verdict(result, {}, model)["verdict"] == "holds"
    assert sarif(result, {}, model)["runs"][0]["results"] == []
    root = ET.fromstring(junit_xml(result, {}, model))
    assert root.get("failures") == "0" and len(list(root.iter("testcase"))) == len(PROPERTIES)


def test_liveness_counterexamples_are_saved_as_lassos(tmp_path):
    model = r1.build(2, "dynamic", "B4")
    result = check_model(model, tuple(LIVENESS_PROPERTIES), stop_at_first=False)
    paths = save_counterexamples_by_property(result, tmp_path, model)
    assert set(paths) == {"fence-signals", "move-completes"}
    for p in paths.values():
        trace = load(p)
        assert trace.is_lasso and replay(trace).ok
    v = json_verdict(result, paths, model)
    assert all(x["loop"] is not None for x in v["verdicts"])


def test_check_command_writes_every_ci_output(tmp_path, capsys):
    out = tmp_path / "ci"
    out.mkdir()
    code = main(["check", "r1", "-n", "2", "--variant", "B6", "--kind", "static", "--quiet",
                 "--trace-dir", str(out / "traces"), "--json", str(out / "v.json"),
                 "--sarif", str(out / "r.sarif"), "--junit", str(out / "j.xml")])
    assert code == 1
    v = json.loads((out / "v.json").read_text())
    (violated,) = [x for x in v["verdicts"] if x["status"] == "violated"]
    assert violated["property"] == "attach-holds-ref"
    assert replay(load(violated["trace"])).ok
    assert json.loads((out / "r.sarif").read_text())["runs"][0]["results"][0]["ruleId"] == "attach-holds-ref"
    assert ET.parse(out / "j.xml").getroot().get("failures") == "1"


def test_check_command_rejects_unwritable_outputs_before_searching(capsys, tmp_path):
    (tmp_path / "f").write_text("")
    code = main(["check", "r1", "-n", "2", "--sarif", str(tmp_path / "f" / "r.sarif")])
    assert code == 2
    assert "is a file, not a directory" in capsys.readouterr().err


def test_the_documented_json_example_is_what_the_command_writes(tmp_path, monkeypatch):
    import re

    from dmabuf_check.cli.main import main

    doc = (Path(ROOT) / "docs" / "json-verdict.md").read_text()
    section = doc[doc.index("## Example"):]
    command = re.search(r"`dmabuf-check (check [^`]+)`", section).group(1).split()
    example = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    monkeypatch.chdir(tmp_path)  # the trace paths in the example are relative to where it runs
    assert main(command) == 1
    real = json.loads((tmp_path / "out" / "verdict.json").read_text())
    varying = {"time", "peak_memory_mb", "bytes_per_state"}
    assert set(real) == set(example)
    assert {k: v for k, v in real.items() if k not in varying} == {k: v for k, v in example.items() if k not in varying}
