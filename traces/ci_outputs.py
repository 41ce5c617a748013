"""What a CI job keeps from a check: trace files, SARIF, JUnit XML and the JSON verdict.

All four are written atomically and computed from the ``CheckResult`` alone
(plus the model, rebuilt from the registry when not given), so a CI step can
produce them from a result object it got through the Python API as well as
from ``dmabuf-check check --trace-dir/--sarif/--junit/--json``.

- ``save_counterexamples``: one "dmabuf-check trace v1" file per violated
  property; the paths go into the other three outputs.
- ``sarif``: SARIF 2.1.0, one rule per checked property, one result per
  violated property, located in the model file (the line of the action the
  explanation blames; in a design file, the line of the design behind it) with
  the trace as a code flow, one thread flow per actor. Checked against GitHub
  code scanning's rules by tests/test_sarif_multitool.py (SARIF Multitool).
- ``junit_xml``: one testcase per property; a violation is a failure whose
  text is the per-thread kernel call rendering.
- ``json_verdict``: the stable, documented schema of docs/json-verdict.md.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

from dmabuf_check.checker.result import HOLDS, VIOLATED, CheckResult
from dmabuf_check.model.lang import Model
from dmabuf_check.model.types import ModelError
from dmabuf_check.traces.evaluate import build_model, from_counterexample, model_source
from dmabuf_check.traces.explain import explain
from dmabuf_check.traces.format import TOOL, Trace, lane_of, save, tool_version, write_atomic
from dmabuf_check.traces.render_calls import call_line, render_calls_text

from dmabuf_check.registry import entry

VERDICT_SCHEMA = "dmabuf-check verdict v1"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/dmabuf-check/dmabuf-check"


def _model(result: CheckResult, model: Model | None) -> Model:
    return model if model is not None else build_model(result.model, result.params)


def traces_of(result: CheckResult, model: Model | None = None) -> dict[str, Trace]:
    """The trace of every violated property that has a counterexample, by property id."""
    m = _model(result, model)
    return {v.property: from_counterexample(v.counterexample, m, engine=result.engine)
            for v in result.verdicts if v.status == VIOLATED and v.counterexample is not None}


def trace_file_name(trace: Trace) -> str:
    parts = [trace.model, f"n{trace.params.get('importers')}" if "importers" in trace.params else ""]
    parts += [str(v) for k, v in trace.params.items() if k != "importers" and v is not None]
    return re.sub(r"[^\w.-]+", "_", "-".join(p for p in parts + [trace.property.id] if p)) + ".trace.json"


def save_counterexamples_by_property(result: CheckResult, directory: str | os.PathLike[str],
                                     model: Model | None = None) -> dict[str, Path]:
    """Write one trace file per violated property into ``directory``; property id -> path."""
    out: dict[str, Path] = {}
    for prop, trace in traces_of(result, model).items():
        out[prop] = save(trace, Path(directory) / trace_file_name(trace))
    return out


def save_counterexamples(result: CheckResult, directory: str | os.PathLike[str],
                         model: Model | None = None) -> list[Path]:
    """Write one trace file per violated property into ``directory``; returns the paths."""
    return list(save_counterexamples_by_property(result, directory, model).values())


# ---- JSON verdict ------------------------------------------------------------------


def reductions(result: CheckResult) -> list[str]:
    return ["symmetry"] if result.symmetry else []


def json_verdict(result: CheckResult, trace_paths: Mapping[str, str | os.PathLike[str]] | None = None,
                 model: Model | None = None) -> dict[str, object]:
    """The run as the documented JSON verdict (docs/json-verdict.md)."""
    paths = {k: str(v) for k, v in (trace_paths or {}).items()}
    traces = traces_of(result, model) if result.violated else {}
    verdicts = []
    for v in result.verdicts:
        cex = v.counterexample
        trace = traces.get(v.property)
        verdicts.append({
            "property": v.property,
            "meaning": v.meaning,
            "rules": list(v.rules),
            "status": v.status,
            "steps": cex.length if cex is not None else None,
            "loop": getattr(cex, "loop", None) if cex is not None else None,
            "path": [f"{s.actor}: {s.label}" for s in trace.steps] if trace is not None else None,
            "explanation": explain(trace).text if trace is not None else None,
            "trace": paths.get(v.property),
            "note": v.note,
        })
    overall = VIOLATED if result.violated else (HOLDS if result.ok else "unknown")
    return {
        "schema": VERDICT_SCHEMA,
        "tool": {"name": TOOL, "version": tool_version()},
        "model": result.model,
        "parameters": dict(result.params),
        "engine": result.engine,
        "symmetry": result.symmetry,
        "reductions": reductions(result),
        "verdict": overall,
        "ok": result.ok,
        "complete": result.complete,
        "stop_reason": result.stop_reason,
        "states": result.states,
        "transitions": result.transitions,
        "depth": result.depth,
        "time": {"explore_seconds": round(result.seconds, 6), "compile_seconds": round(result.compile_seconds, 6)},
        "peak_memory_mb": round(result.peak_memory_mb, 1),
        "bytes_per_state": round(result.bytes_per_state, 1),
        "end_states": result.end_states,
        "vacuous": result.vacuous,
        "verdicts": verdicts,
    }


def write_json_verdict(path: str | os.PathLike[str], result: CheckResult,
                       trace_paths: Mapping[str, str | os.PathLike[str]] | None = None,
                       model: Model | None = None) -> Path:
    return write_atomic(path, json.dumps(json_verdict(result, trace_paths, model), indent=1) + "\n")


# ---- SARIF 2.1.0 ----------------------------------------------------------------------


def _action_line(model: Model, action: str, rules: Sequence[str] = (), whole: bool = False) -> int | None:
    """The line of the model source that declares ``action`` (where a reader goes to fix it); for a driver
    program, the line of the call the action runs; for a design, the line of the design that makes the action
    do what it does (``_design_line``; ``rules``: the violated property's, ``whole``: else the design itself)."""
    from dmabuf_check.model.driver.compile import info_of

    try:
        where = info_of(model).where.get(action)
    except ModelError:
        where = None
    if where is not None and os.path.abspath(where[0]) == os.path.abspath(model.source or ""):
        return where[1]
    if not model.source:
        return None
    try:
        text = Path(model.source).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    m = re.search(rf"""\(\s*["']{re.escape(action)}["']""", text) if action else None
    if m:
        return text.count("\n", 0, m.start()) + 1
    if not (model.source.endswith((".toml", ".json")) or re.search(r"^DESIGN\s*[:=]", text, re.M)):
        return None  # not a design file
    act = next((a for a in model.actions if a.name == action), None)
    return _design_line(text, action, {*rules, act.rule} - {""} if act is not None else set(rules), whole)


# A composed design's action comes from one part of the design: the dma_buf_ops callback it runs (the
# ``ops`` key), or the exporter's move, submit, eviction or signalling path; by action-name prefix.
_DESIGN_PARTS = (("begin_cpu", "begin_cpu_access"), ("end_cpu", "end_cpu_access"), ("exp_put", "release"),
                 ("put_last", "release"), ("munmap", "mmap"), ("exp_submit", "submit"), ("move_to", "move"),
                 ("evict", "evict"), ("signal_ef", "signalling"))
_RULE_ID = re.compile(r"\b[A-Z]{2,}(?:-[A-Z]+)*-[A-Z]?\d+")


@functools.cache
def _importer_rules() -> dict[str, frozenset[str]]:
    """The kernel rules each ``Importer`` field stands for, as its docstring states them."""
    from dataclasses import fields

    from dmabuf_check.model.design import Importer

    names = {f.name for f in fields(Importer)}
    out: dict[str, set[str]] = {}
    current = None
    for line in (Importer.__doc__ or "").splitlines():
        m = re.match(r"\s*(\w+)\s+--", line)
        if m:
            current = m.group(1) if m.group(1) in names else None
        if current:
            out.setdefault(current, set()).update(_RULE_ID.findall(line))
    return {k: frozenset(v) for k, v in out.items()}


def _key_line(text: str, name: str) -> int | None:
    """The first line that sets ``name`` in a design file: a dict key or keyword (Python), a key or table
    (TOML), a member (JSON); comments skipped."""
    pat = re.compile(rf"""["']{name}["']\s*:|(?<![\w.]){name}\s*=(?!=)|^\s*\[(?:\w+\.)*{name}\]""")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.lstrip().startswith("#") and pat.search(line):
            return n
    return None


def _design_line(text: str, action: str, rules: set[str], whole: bool) -> int | None:
    """The line of a design file behind ``action``: an importer field the file sets that stands for one of
    ``rules`` (a seeded importer bug: the file's deviation from the contract), else the part of the design
    the action runs (its dma_buf_ops callback, move, submit, ...); else, with ``whole`` (a result must have a
    region), the first field a derived design changes, else the ``DESIGN`` line (TOML/JSON: ``name``)."""
    for name, ids in _importer_rules().items():
        if ids & rules and (line := _key_line(text, name)):
            return line
    from dmabuf_check.model.design import OPS

    parts = sorted([*_DESIGN_PARTS, *((op, op) for op in OPS)], key=lambda p: -len(p[0]))
    for prefix, part in parts:
        if (action == prefix or action.startswith(prefix + "_")) and (line := _key_line(text, part)):
            return line
    if not whole:
        return None
    return _change_line(text) or _line_of(text, r"^DESIGN\s*[:=]|^\s*\"?name\"?\s*[=:]") or 1


def _line_of(text: str, pattern: str) -> int | None:
    m = re.search(pattern, text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _change_line(text: str) -> int | None:
    """A design derived from another (``DESIGN = replace(BASE, ...)``, as every seeded bug is): the first field
    it changes (its name and title aside), which is the change the bug is."""
    from dataclasses import fields

    from dmabuf_check.model.design import Design

    start = _line_of(text, r"^DESIGN\s*(?::[^=\n]*)?=\s*(?:dataclasses\.)?replace\(")
    if start is None:
        return None
    names = {f.name for f in fields(Design)} - {"name", "title", "follows"}
    for n, line in enumerate(text.splitlines()[start:], start + 1):
        if line.startswith(")"):
            break
        m = re.match(r"\s*(\w+)\s*=(?!=)", line)
        if m and m.group(1) in names:
            return n
    return None


PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _artifact(source: str, root: Path | None = None) -> tuple[str, str | None]:
    """A model file as SARIF names it: relative to the repository root (SRCROOT: ``--sarif-root``, else the
    working directory, the checkout a CI job runs in, so code scanning finds the user's design file), else to
    dmabuf-check's own package (built-in models), else an absolute file URI."""
    if not source:
        return "", None
    full = Path(source).resolve()
    for base, name in (((root or Path.cwd()).resolve(), "SRCROOT"), (PACKAGE_ROOT, "DMABUF_CHECK")):
        try:
            return full.relative_to(base).as_posix(), name
        except ValueError:
            continue
    return full.as_uri(), None


def _location(uri: str, line: int | None, message: str = "", base: str | None = "SRCROOT") -> dict[str, object]:
    art: dict[str, object] = {"uri": uri}
    if base:
        art["uriBaseId"] = base
    phys: dict[str, object] = {"artifactLocation": art}
    if line:
        phys["region"] = {"startLine": line}
    loc: dict[str, object] = {"physicalLocation": phys}
    if message:
        loc["message"] = {"text": message}
    return loc


def _culprit(m: Model, why, uri: str, base: str | None) -> dict[str, object] | None:
    """A driver program's violation is the call a thread is about to make: its line in the model's file."""
    if why.where is None or os.path.abspath(why.where[0]) != os.path.abspath(m.source or ""):
        return None
    return _location(uri, why.where[1], base=base)


def rule_help(prop: str, meaning: str, rule_ids: Sequence[str]) -> dict[str, str]:
    """SARIF ``help``: the kernel rules a property checks, as the rule catalog states them."""
    from dmabuf_check.properties import rulebook

    text = [f"{prop}: {meaning}"]
    md = [f"**{prop}**: {meaning}", ""]
    for rid in rule_ids:
        r = rulebook.lookup(rid)
        if r is None:
            continue
        statement = " ".join(r.statement.split())
        text.append(f"{rid}: {statement}" + (f" Kernel source: {r.source}" if r.source else ""))
        md.append(f"- **{rid}** ({r.section}): {statement}" + (f" *Kernel source:* {r.source}" if r.source else ""))
    text.append(f"More: dmabuf-check explain {prop}")
    md += ["", f"More: `dmabuf-check explain {prop}`"]
    return {"text": "\n".join(text), "markdown": "\n".join(md)}


def sarif(result: CheckResult, trace_paths: Mapping[str, str | os.PathLike[str]] | None = None,
          model: Model | None = None, root: str | os.PathLike[str] | None = None) -> dict[str, object]:
    """A SARIF 2.1.0 log: one rule per checked property, one result per violated property; file URIs are
    relative to ``root`` (the repository; default: the working directory)."""
    m = _model(result, model)
    srcroot = Path(root) if root is not None else None
    uri, base = _artifact(m.source, srcroot) if m.source else (model_source(m), "SRCROOT")
    try:
        catalog = {p.id: p for p in entry(m.name).properties}
    except ModelError:
        catalog = {}  # a model built outside the registry: its rules still come from the verdicts
    rules, index = [], {}
    for k, v in enumerate(result.verdicts):
        p = catalog.get(v.property)
        index[v.property] = k
        rules.append({
            "id": v.property,
            "name": "".join(w.capitalize() for w in v.property.split("-")),
            "shortDescription": {"text": v.meaning},
            "fullDescription": {"text": f"{v.meaning} (kernel rules {', '.join(v.rules)}"
                                        + (f"; {p.source})" if p is not None else ")")},
            "defaultConfiguration": {"level": "error"},
            "help": rule_help(v.property, v.meaning, v.rules),
            "properties": {"kernel-rules": list(v.rules), "kernel-source": p.source if p is not None else ""},
        })
    paths = {k: str(p) for k, p in (trace_paths or {}).items()}
    kernel_rules = {v.property: v.rules for v in result.verdicts}
    results = []
    for prop, trace in traces_of(result, m).items():
        why = explain(trace)
        blame = trace.steps[why.step - 1].action if why.step else (trace.steps[-1].action if trace.steps else "")
        states = trace.states()
        flows = []
        for lane in trace.actors():
            locs = [{"location": _location(uri, _action_line(m, s.action),
                                           f"{n}. {call_line(n, s, states[n - 1]).text()}", base),
                     "executionOrder": n, "nestingLevel": 0}
                    for n, s in enumerate(trace.steps, 1) if lane_of(s.actor) == lane]
            if locs:
                flows.append({"id": lane, "message": {"text": lane}, "locations": locs})
        res: dict[str, object] = {
            "ruleId": prop,
            "ruleIndex": index.get(prop, 0),
            "level": "error",
            "message": {"text": f"{prop} violated after {trace.length} steps in {trace.title()}: {why.text}"},
            "locations": [_culprit(m, why, uri, base)
                          or _location(uri, _action_line(m, blame, kernel_rules.get(prop, ()), whole=True), base=base)],
            "properties": {"steps": trace.length, "lasso": trace.is_lasso},
        }
        if flows:  # a violation of the initial state has no steps, and a code flow needs a thread flow
            res["codeFlows"] = [{"message": {"text": f"counterexample, {trace.length} steps"}, "threadFlows": flows}]
        if prop in paths:
            res["properties"]["trace"] = paths[prop]  # type: ignore[index]
        results.append(res)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL, "version": tool_version(), "informationUri": INFO_URI, "rules": rules}},
            "originalUriBaseIds": {"SRCROOT": {"uri": (srcroot or Path.cwd()).resolve().as_uri() + "/"},
                                   "DMABUF_CHECK": {"uri": PACKAGE_ROOT.as_uri() + "/"}},
            "invocations": [{"executionSuccessful": result.complete,
                             **({"exitCodeDescription": result.stop_reason} if result.stop_reason else {})}],
            "results": results,
            "properties": {"model": result.model, "parameters": dict(result.params), "engine": result.engine,
                           "reductions": reductions(result), "states": result.states},
        }],
    }


def write_sarif(path: str | os.PathLike[str], result: CheckResult,
                trace_paths: Mapping[str, str | os.PathLike[str]] | None = None, model: Model | None = None,
                root: str | os.PathLike[str] | None = None) -> Path:
    return write_atomic(path, json.dumps(sarif(result, trace_paths, model, root), indent=1) + "\n")


# ---- JUnit XML ---------------------------------------------------------------------------


def junit_xml(result: CheckResult, trace_paths: Mapping[str, str | os.PathLike[str]] | None = None,
              model: Model | None = None) -> str:
    """JUnit XML: one testsuite for the run, one testcase per property."""
    traces = traces_of(result, model) if result.violated else {}
    paths = {k: str(p) for k, p in (trace_paths or {}).items()}
    params = ", ".join(f"{k}={v}" for k, v in result.params.items() if v is not None)
    failures = sum(v.status == VIOLATED for v in result.verdicts)
    undecided = sum(v.status not in (HOLDS, VIOLATED) for v in result.verdicts)
    # a run a limit cut before any verdict failed decides nothing: its undecided properties are errors, so CI
    # fails; after a violation, the properties the search did not finish are skipped (the run fails anyway)
    cut = not result.complete and not failures
    errors, skipped = (undecided, 0) if cut else (0, undecided)
    # junit-10.xsd (Jenkins, pytest): <testsuites> carries no skipped count, <testsuite> does
    suites = ET.Element("testsuites", name=TOOL, tests=str(len(result.verdicts)), failures=str(failures),
                        errors=str(errors), time=f"{result.seconds:.3f}")
    suite = ET.SubElement(suites, "testsuite", name=f"{result.model} ({params})", tests=str(len(result.verdicts)),
                          failures=str(failures), errors=str(errors), skipped=str(skipped),
                          time=f"{result.seconds:.3f}")
    props = ET.SubElement(suite, "properties")
    for name, value in (("engine", result.engine), ("reductions", ",".join(reductions(result)) or "none"),
                        ("states", str(result.states)), ("complete", str(result.complete).lower())):
        ET.SubElement(props, "property", name=name, value=value)
    for v in result.verdicts:
        case = ET.SubElement(suite, "testcase", classname=f"{TOOL}.{result.model}", name=v.property, time="0")
        if v.status == VIOLATED:
            trace = traces.get(v.property)
            why = explain(trace).text if trace is not None else v.meaning
            fail = ET.SubElement(case, "failure", type="violated",
                                 message=f"{v.property} violated ({', '.join(v.rules)}): {why}")
            text = render_calls_text(trace) if trace is not None else ""
            if v.property in paths:
                text += f"trace file: {paths[v.property]}\n"
            fail.text = text
        elif v.status != HOLDS and cut:
            ET.SubElement(case, "error", type="incomplete",
                          message=f"{v.property} not decided: {result.stop_reason or v.note or 'the search was cut'}")
        elif v.status != HOLDS:
            ET.SubElement(case, "skipped", message=v.note or v.status)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(path: str | os.PathLike[str], result: CheckResult,
                trace_paths: Mapping[str, str | os.PathLike[str]] | None = None, model: Model | None = None) -> Path:
    return write_atomic(path, junit_xml(result, trace_paths, model))
