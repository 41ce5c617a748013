"""SARIF that GitHub code scanning accepts: Microsoft's SARIF Multitool, `validate --rule-kind "Sarif;Gh"`.

The Multitool (npm `@microsoft/sarif-multitool`, a self-contained binary per platform) checks the SARIF rules
(SARIF1xxx errors, SARIF2xxx warnings, its JSON schema: JSONxxxx) and GitHub's ingestion rules (GH1xxx,
GH2xxx: e.g. GH2012, every rule has a ``help``). `.ci/run` installs it into ``$HOME/.cache/dmabuf-check-sarif``
when npm is there; ``DMABUF_CHECK_SARIF_MULTITOOL`` names another install (the npm prefix or the binary).
Without an install the test skips and says why; an install that does not run is a failure.

The SARIF files are those `dmabuf-check check --sarif` writes: a seeded design bug, R1 with a seeded bug, a
driver program's seeded bug, a user's design file in the working directory, a violation of the initial state
(no steps, so no code flow) and a passing run. A copy of one with ``help`` removed must draw GH2012: the GitHub
rules did run and the validation log is read right.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from trace_cases import ROOT

from dmabuf_check.cli.main import main

ENV = "DMABUF_CHECK_SARIF_MULTITOOL"
PREFIX = Path.home() / ".cache" / "dmabuf-check-sarif"  # where .ci/run installs it (npm install --prefix)
PLATFORM = {"win32": "win32", "darwin": "darwin"}.get(sys.platform, "linux")
EXE = "Sarif.Multitool.exe" if PLATFORM == "win32" else "Sarif.Multitool"


def multitool() -> Path:
    """The Sarif.Multitool binary, or a skip when none is installed (an explicit ``$DMABUF_CHECK_SARIF_MULTITOOL``
    that does not exist is a failure)."""
    given = os.environ.get(ENV)
    where = Path(given) if given else PREFIX
    for exe in (where, where / "node_modules" / "@microsoft" / f"sarif-multitool-{PLATFORM}" / EXE):
        if exe.is_file():
            return exe
    if given:
        pytest.fail(f"${ENV}={given} is neither the Sarif.Multitool binary nor an npm prefix holding it")
    reason = (f"SARIF Multitool not installed: no {EXE} under {PREFIX} (.ci/run installs it with npm; or set ${ENV})")
    print(reason, file=sys.__stderr__)
    pytest.skip(reason)


# the map callback of a copy of the built-in udmabuf design takes the resv the core already holds (a violation)
MAP_LINE = '        "map": Op(allocates="GFP_KERNEL"),\n'
BAD_MAP_LINE = '        "map": Op(locks=("resv",), allocates="GFP_KERNEL"),\n'

CASES = {  # file name: (check arguments, exit code)
    "design-bug": (["bug-put-while-attached"], 1),
    "r1-bug": (["r1", "-n", "2", "--variant", "B4", "--keep-going"], 1),
    "program-bug": (["bug-dma-buf-fd-trace"], 1),
    "user-design": (["mydesign.py"], 1),
    "initial-state": (["bug-vunmap-unbalanced"], 1),
    "passing": (["r1", "-n", "2"], 0),
}


def message(res: dict, rules: list[dict]) -> str:
    """A validation result's text: its rule's message string with the arguments filled in."""
    msg = res.get("message", {})
    text = msg.get("text")
    if text is None and "ruleIndex" in res and res["ruleIndex"] < len(rules):
        text = rules[res["ruleIndex"]].get("messageStrings", {}).get(msg.get("id"), {}).get("text")
    text = text or msg.get("id", "")
    for k, arg in enumerate(msg.get("arguments", [])):
        text = text.replace(f"{{{k}}}", str(arg))
    return text.replace("{{", "{").replace("}}", "}")  # .NET format-string escapes


def problems(log: dict) -> list[tuple[str, str, str]]:
    """(file name, rule id, text) of every error and warning of a Multitool validation log; a tool notification
    at those levels, or an unsuccessful run, counts as one."""
    out = []
    for run in log["runs"]:
        rules = run["tool"]["driver"].get("rules", [])
        for inv in run.get("invocations", []):
            if not inv.get("executionSuccessful", False):
                out.append(("", "invocation", json.dumps(inv)[:2000]))
            for note in inv.get("toolExecutionNotifications", []) + inv.get("toolConfigurationNotifications", []):
                if note.get("level", "warning") in ("error", "warning"):
                    out.append(("", "notification", note.get("message", {}).get("text", json.dumps(note))))
        for res in run.get("results", []):
            if res.get("kind", "fail") != "fail" or res.get("level", "warning") not in ("error", "warning"):
                continue
            loc = (res.get("locations") or [{}])[0].get("physicalLocation", {})
            name = loc.get("artifactLocation", {}).get("uri", "").rsplit("/", 1)[-1]
            line = loc.get("region", {}).get("startLine")
            out.append((name, res.get("ruleId", ""), f"line {line}: {message(res, rules)}"))
    return out


def write_cases(tmp_path, monkeypatch, capsys) -> list[Path]:
    monkeypatch.chdir(tmp_path)  # SRCROOT: the user's design file is relative to the working directory
    design = (Path(ROOT) / "model" / "designs" / "udmabuf.py").read_text()
    assert MAP_LINE in design
    (tmp_path / "mydesign.py").write_text(design.replace(MAP_LINE, BAD_MAP_LINE))
    files = []
    for name, (args, code) in CASES.items():
        out = tmp_path / f"{name}.sarif"
        assert main(["check", *args, "--quiet", "--sarif", str(out)]) == code, name
        files.append(out)
    capsys.readouterr()
    return files


def test_sarif_is_valid_against_the_sarif_2_1_0_schema(tmp_path, monkeypatch, capsys):
    """The SARIF 2.1.0 JSON schema (sarif-sdk's copy of the OASIS schema, as the Multitool ships it), with a
    real validator: every file, and a broken copy that must fail (the validator does run)."""
    import jsonschema

    schema = json.loads((Path(ROOT) / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for f in write_cases(tmp_path, monkeypatch, capsys):
        errors = sorted(validator.iter_errors(json.loads(f.read_text())), key=lambda e: list(e.path))
        assert not errors, f"{f.name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    broken = json.loads((tmp_path / "design-bug.sarif").read_text())
    broken["runs"][0]["results"][0]["level"] = "bogus"
    assert not validator.is_valid(broken)


def test_sarif_passes_the_multitool_sarif_and_github_rules(tmp_path, monkeypatch, capsys):
    tool = multitool()
    files = write_cases(tmp_path, monkeypatch, capsys)

    # the control: without help, every rule draws GH2012
    control = json.loads((tmp_path / "design-bug.sarif").read_text())
    rules = control["runs"][0]["tool"]["driver"]["rules"]
    for rule in rules:
        del rule["help"]
    (tmp_path / "control.sarif").write_text(json.dumps(control, indent=1))

    log_path = tmp_path / "validation.sarif"
    run = subprocess.run([str(tool), "validate", "--rule-kind", "Sarif;Gh", "--level", "Error;Warning",
                          "--output", str(log_path), "--log", "ForceOverwrite;PrettyPrint",
                          *map(str, files), str(tmp_path / "control.sarif")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and log_path.is_file(), (run.returncode, run.stdout[-4000:], run.stderr[-4000:])
    found = problems(json.loads(log_path.read_text()))
    assert sum(p[:2] == ("control.sarif", "GH2012") for p in found) == len(rules), found
    ours = [p for p in found if p[0] != "control.sarif"]
    assert not ours, "the Multitool reports:\n" + "\n".join(f"{f} {rule}: {text}" for f, rule, text in ours)

    # what the issue asked for: the region on the design line the counterexample blames
    (res,) = json.loads((tmp_path / "user-design.sarif").read_text())["runs"][0]["results"][:1]
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "mydesign.py", "uriBaseId": "SRCROOT"}
    lines = (tmp_path / "mydesign.py").read_text().splitlines(keepends=True)
    assert lines[loc["region"]["startLine"] - 1] == BAD_MAP_LINE
    (res,) = json.loads((tmp_path / "design-bug.sarif").read_text())["runs"][0]["results"]
    region = res["locations"][0]["physicalLocation"]["region"]
    src = (Path(ROOT) / "model" / "designs" / "bugs" / "put_while_attached.py").read_text().splitlines()
    assert "holds_ref_while_attached=False" in src[region["startLine"] - 1]


def test_sarif_root_names_files_relative_to_the_repository(tmp_path, monkeypatch, capsys):
    """--sarif-root: a job that checks repo/drivers/mydesign.py from elsewhere still gets repository-relative
    URIs; a --sarif-root that is not a directory, or without --sarif, is one line and exit 2."""
    repo = tmp_path / "repo"
    (repo / "drivers").mkdir(parents=True)
    design = (Path(ROOT) / "model" / "designs" / "udmabuf.py").read_text().replace(MAP_LINE, BAD_MAP_LINE)
    (repo / "drivers" / "mydesign.py").write_text(design)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.sarif"
    assert main(["check", "repo/drivers/mydesign.py", "--quiet", "--sarif", str(out), "--sarif-root", "repo"]) == 1
    run = json.loads(out.read_text())["runs"][0]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "drivers/mydesign.py", "uriBaseId": "SRCROOT"}
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == repo.resolve().as_uri() + "/"
    capsys.readouterr()
    assert main(["check", "r1", "-n", "1", "--sarif", str(out), "--sarif-root", "nowhere"]) == 2
    assert "--sarif-root nowhere: not a directory" in capsys.readouterr().err
    assert main(["check", "r1", "-n", "1", "--sarif-root", "repo"]) == 2
    assert "give --sarif FILE too" in capsys.readouterr().err
