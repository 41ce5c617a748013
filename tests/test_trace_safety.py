"""Opening a trace never runs code: a trace's design 'file' parameter is a record, never loaded."""

from __future__ import annotations

import glob
import json
import re

import pytest

from dmabuf_check.cli.main import main


@pytest.mark.parametrize("action", [["replay"], ["show"], ["export", "--as", "pytest"]])
def test_a_trace_pointing_at_a_python_file_does_not_run_it(tmp_path, capsys, action):
    assert main(["check", "bug-move-no-notify", "--trace-dir", str(tmp_path / "out"), "--quiet"]) == 1
    (path,) = glob.glob(str(tmp_path / "out" / "*.json"))
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    data = json.loads(open(path).read())
    data["params"]["file"] = str(evil)
    with open(path, "w") as f:
        json.dump(data, f)
    capsys.readouterr()
    extra = ["-o", str(tmp_path / "t.py")] if action[0] == "export" else []
    code = main(["trace", *action, path, *extra])
    assert not marker.exists()  # whatever the command, the file the trace points at never ran
    if action == ["replay"]:  # replay rebuilds the model: the foreign file is refused in one line
        assert code == 2
        err = capsys.readouterr().err
        assert "a trace's 'file' parameter is never loaded" in err and err.count("\n") == 1


def test_a_trace_that_diverges_from_the_model_is_not_exported(tmp_path, capsys):
    assert main(["check", "r1", "-n", "2", "--variant", "B4", "--trace-dir", str(tmp_path), "--quiet"]) == 1
    (path,) = glob.glob(str(tmp_path / "*.json"))
    data = json.loads(open(path).read())
    step = data["steps"][2]
    key = next(iter(step["changed"]))
    step["state"][key] = "BOGUS" if isinstance(step["state"][key], str) else 7  # a state the model never reaches
    with open(path, "w") as f:
        json.dump(data, f)
    capsys.readouterr()
    for fmt in ("pytest", "kunit", "svg"):
        out = tmp_path / f"t.{fmt}"
        assert main(["trace", "export", path, "--as", fmt, "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert "does not replay against the model, so it is not exported" in err and err.count("\n") == 1
        assert not out.exists()


HOSTILE = 'x"""\nimport os; os.system("touch /tmp/pwned")\n"""*/ </text><script>alert(1)</script>\x00\x07 done'


def test_hostile_text_in_a_trace_cannot_break_or_inject_into_an_export(tmp_path, capsys):
    import ast
    import shutil
    import subprocess
    import xml.etree.ElementTree as ET

    assert main(["check", "r1", "-n", "2", "--variant", "B4", "--trace-dir", str(tmp_path), "--quiet"]) == 1
    (path,) = glob.glob(str(tmp_path / "*.json"))
    data = json.loads(open(path).read())
    data["property"]["meaning"] = HOSTILE
    data["property"]["source"] = HOSTILE
    data["note"] = HOSTILE
    with open(path, "w") as f:
        json.dump(data, f)
    out = {fmt: tmp_path / f"t.{fmt}" for fmt in ("pytest", "kunit", "svg", "mermaid")}
    for fmt, target in out.items():
        assert main(["trace", "export", path, "--as", fmt, "-o", str(target)]) == 0, capsys.readouterr().err
    tree = ast.parse(out["pytest"].read_text())  # still valid Python
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "system"]
    assert calls == []  # the text stayed text
    c = out["kunit"].read_text()
    assert "\x00" not in c and "\x07" not in c
    # the hostile text's "*/" cannot end a comment early and its quotes cannot end a string: with comments and
    # string literals stripped, no trace of it is left in the code
    code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', re.sub(r"/\*.*?\*/", "", c, flags=re.S))
    assert "os.system" not in code and "<script>" not in code
    if shutil.which("gcc"):  # the C front end, without kernel headers: the hostile text broke no token
        r = subprocess.run(["gcc", "-fpreprocessed", "-dD", "-E", "-x", "c", str(out["kunit"])],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    ET.parse(out["svg"])  # well-formed XML: no NUL, markup escaped
    assert "<script>" not in out["svg"].read_text()
