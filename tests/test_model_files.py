"""A file written directly in the modeling language (MODEL or build(**params), with PROPERTIES) checks,
proves and replays like a design file."""

from __future__ import annotations

import json

from dmabuf_check import registry
from tests.test_cli import run_cli

SOURCE = '''
from dmabuf_check.model.expr import Param, count
from dmabuf_check.model.lang import Model, assign
from dmabuf_check.model.types import BOOL, Range
from dmabuf_check.properties.base import Property


def build(importers=2, **_):
    m = Model("my-refcount", "a refcount with N holders")
    idx = m.index_set("importers", importers, "importer")
    refs = m.var("refs", Range(0, 4), 0)
    held = m.array("held", idx, BOOL, 0)
    i = Param("i", idx)
    m.action("get", (held[i] == 0) & (refs < 4), [assign(held[i], 1), assign(refs, refs + 1)], params=(i,),
             actor="importers")
    k = Param("i", idx)
    m.action("put", GUARD, [assign(held[k], 0), assign(refs, refs - 1)], params=(k,), actor="importers")
    return m


PROPERTIES = [Property("count-matches", "the count equals the holders", ("KREF-1",), "kref.rst",
                       build=lambda m: m.variable("refs").ref()
                       == count(m.index_sets["importers"], lambda j: m.variable("held")[j] == 1))]
'''


def write(tmp_path, guard: str):
    src = tmp_path / "my_model.py"
    src.write_text(SOURCE.replace("GUARD", guard))
    return src


def test_a_model_file_holds_and_its_bug_replays(tmp_path, capsys):
    src = write(tmp_path, "held[k] == 1")
    code, out, _err = run_cli(capsys, "check", str(src), "--importers", "3")
    assert code == 0 and "all 1 properties hold (4 states)" in out
    src = write(tmp_path, "(refs > 0)")  # a put by a holder that holds nothing
    code, out, _err = run_cli(capsys, "check", str(src), "--trace-dir", str(tmp_path / "t"))
    assert code == 1 and "count-matches violated after 2 steps" in out
    (trace,) = (tmp_path / "t").iterdir()
    assert json.loads(trace.read_text())["params"]["file"] == str(src)
    registry._FILES.clear()
    code, out, _err = run_cli(capsys, "trace", "replay", str(trace), "--model-file", str(src))
    assert code == 0 and "replay ok" in out


def test_a_model_file_without_properties_is_one_line(tmp_path, capsys):
    src = tmp_path / "bare.py"
    src.write_text("from dmabuf_check.model.lang import Model\nMODEL = Model('bare')\n")
    code, _out, err = run_cli(capsys, "check", str(src))
    assert code == 2 and "defines a model but no PROPERTIES" in err and err.count("\n") == 1
