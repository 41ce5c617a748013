"""Every R1 seeded-bug variant, end to end: save, replay, ITF, call rendering, SVG, pytest and kselftest exports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from dmabuf_check.traces.chart import to_mermaid, to_svg
from dmabuf_check.traces.explain import explain
from dmabuf_check.traces.export_kselftest import HEADER, to_kselftest
from dmabuf_check.traces.export_pytest import to_pytest
from dmabuf_check.traces.format import load, save
from dmabuf_check.traces.itf import itf_states, to_itf
from dmabuf_check.traces.render_calls import render_calls_text
from dmabuf_check.traces.replay import replay
from trace_cases import CASE_IDS, CASES, ROOT, bfs_trace, lasso_trace

SVG = "{http://www.w3.org/2000/svg}"

# What the per-thread call rendering must say for each variant: (line fragment, ...) in order.
CALLS = {
    "B1": ["importer 1: dma_buf_map_attachment_unlocked(att1, DMA_BIDIRECTIONAL) → sgt1: sg_table in SYS",
           "exporter: dma_resv_lock(dmabuf->resv, NULL)",
           "exporter: dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP); move storage  [storage moved "
           "to VRAM]",
           "violated: no-migration-while-mapped (MIG-4, MIG-5, MAP-8) — dma_buf_ops.pin/unpin doc",
           "while the mapping was pinned"],
    "B2": ["importer 1: dma_buf_map_attachment(att1, DMA_BIDIRECTIONAL) → sgt1: sg_table in SYS",
           "exporter: dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP); move storage; move_notify not sent",
           "violated: no-migration-while-mapped",
           "move_notify never invalidated the mapping"],
    "B3": ["importer 1: dma_resv_add_fence(dmabuf->resv, job1_fence, DMA_RESV_USAGE_WRITE)  [job1_fence pending]",
           "exporter: dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP); move storage; "
           "dma_buf_move_notify(dmabuf)",
           "violated: dma-targets-current-storage (MIG-6, DYN-9)",
           "without waiting for the fence"],
    "B4": ["importer 1: dma_resv_add_fence(dmabuf->resv, job1_fence, DMA_RESV_USAGE_WRITE)",
           "7. exporter: dma_resv_lock(dmabuf->resv, NULL)",
           "8. exporter: begin move: wait for fences in dmabuf->resv",
           "exporter: dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP) blocks, waiting for job1_fence",
           "hardware: dma_fence_signal(job1_fence) never happens: it needs dma_resv_lock(dmabuf->resv), held by "
           "exporter",
           "wait-for cycle: exporter → fence 1 → lock resv → exporter",
           "violated: no-fence-wait-deadlock (DL-1, DL-2, SIG-3)"],
    "B5": ["importer 1: dma_buf_map_attachment", "importer 1: dma_buf_detach(dmabuf, att1)",
           "violated: map-after-attach", "detached at step"],
    "B6": ["attach(dmabuf, dev1", "importer 1: dma_buf_put(dmabuf)", "violated: attach-holds-ref",
           "dropped its dma-buf reference"],
}


@pytest.mark.parametrize(("variant", "kind"), CASES, ids=CASE_IDS)
def test_saved_trace_replays(variant, kind, tmp_path):
    trace = bfs_trace(variant, kind)
    back = load(save(trace, tmp_path / "t.json"))
    assert back == trace
    report = replay(back)
    assert report.ok, report.summary()
    assert report.steps_checked == trace.length


@pytest.mark.parametrize(("variant", "kind"), CASES, ids=CASE_IDS)
def test_itf_export_parses_and_matches_the_trace(variant, kind):
    trace = bfs_trace(variant, kind)
    doc = json.loads(json.dumps(to_itf(trace)))
    assert doc["#meta"]["format"] == "ITF"
    assert doc["#meta"]["dmabuf-check"]["property"]["id"] == trace.property.id
    assert doc["vars"] == list(trace.initial)
    assert [s["#meta"]["index"] for s in doc["states"]] == list(range(trace.length + 1))
    assert doc["states"][0]["storage"] == "UNALLOC" and doc["states"][0]["released"] is False
    assert isinstance(doc["states"][0]["map"], list) and len(doc["states"][0]["map"]) == 2
    assert itf_states(doc) == trace.states()
    assert "loop" not in doc
    # ITF's own reader (itf-py, Informal Systems): the same states, variable by variable
    import itf_py

    parsed = itf_py.trace_from_json(doc)
    assert parsed.vars == list(trace.initial) and len(parsed.states) == trace.length + 1

    def plain(v):  # ITF booleans are the model's 0/1 flags
        return [plain(x) for x in v] if isinstance(v, list | tuple) else int(v) if isinstance(v, bool) else v

    assert [{k: plain(v) for k, v in st.values.items()} for st in parsed.states] == trace.states()


@pytest.mark.parametrize(("variant", "kind"), CASES, ids=CASE_IDS)
def test_call_rendering_names_the_kernel_calls(variant, kind):
    trace = bfs_trace(variant, kind)
    text = render_calls_text(trace)
    pos = -1
    for fragment in CALLS[variant]:
        if kind == "static":
            fragment = fragment.replace("dma_buf_map_attachment(", "dma_buf_map_attachment_unlocked(")
        found = text.find(fragment, pos + 1)
        assert found > pos, f"{fragment!r} missing or out of order in:\n{text}"
        pos = found
    # every step is one numbered line naming its thread
    for n, s in enumerate(trace.steps, 1):
        lane = "hardware" if s.actor.startswith("hardware") else s.actor
        assert f"{n}. {lane}: " in text


@pytest.mark.parametrize(("variant", "kind"), CASES, ids=CASE_IDS)
def test_svg_and_mermaid(variant, kind):
    trace = bfs_trace(variant, kind)
    root = ET.fromstring(to_svg(trace))
    assert root.tag == f"{SVG}svg"
    texts = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    for lane in ("exporter", "importer 1", "importer 2", "hardware"):
        assert lane in texts
    assert f"violated: {trace.property.id}" in texts
    assert len(root.findall(f".//{SVG}g[@class='step']")) == trace.length
    mm = to_mermaid(trace)
    assert mm.startswith("sequenceDiagram\n")
    assert mm.count("->>dmabuf: ") == trace.length
    assert "participant importer_2 as importer 2" in mm


def test_b4_svg_shows_the_blocked_calls_and_the_cycle():
    root = ET.fromstring(to_svg(bfs_trace("B4", "dynamic")))
    texts = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "never completes:" in texts
    assert "waits for job1_fence" in texts and "needs resv, held by exporter" in texts
    red = [p for p in root.iter(f"{SVG}path") if p.get("marker-end") == "url(#arrow-red)"]
    assert len(red) == 2  # exporter -> hardware and back: the two edges of the wait-for cycle


@pytest.mark.parametrize(("variant", "kind"), CASES, ids=CASE_IDS)
def test_explanation_is_derived_from_the_final_state(variant, kind):
    trace = bfs_trace(variant, kind)
    why = explain(trace)
    assert why.property == trace.property.id
    assert why.importers == [1]
    assert why.step is not None and 1 <= why.step <= trace.length


def test_no_migration_explanation_reads_the_placements():
    why = explain(bfs_trace("B1", "static"))
    assert why.text.startswith("importer 1 still maps SYS, but the buffer now lives in VRAM: the exporter moved it")
    assert "pinned" in why.text


def test_exported_pytest_files_pass_and_fail_without_the_bug(tmp_path):
    """The generated tests pass on the buggy model and fail once the seeded bug is removed."""
    for variant, kind in CASES:
        (tmp_path / f"test_{variant}_{kind}.py").write_text(to_pytest(bfs_trace(variant, kind)))
    for prop in ("fence-signals", "move-completes"):
        (tmp_path / f"test_lasso_{prop.replace('-', '_')}.py").write_text(to_pytest(lasso_trace(prop)))
    fixed = to_pytest(bfs_trace("B1", "static")).replace("'variant': 'B1'", "'variant': None")
    (tmp_path / "test_fixed_model.py").write_text(fixed)
    env = {**os.environ, "PYTHONPATH": ROOT}
    report = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    cases = {(c.get("classname"), c.get("name")): c for c in ET.parse(report).getroot().iter("testcase")}
    assert len(cases) == len(CASES) + 3
    failed = sorted(c.get("classname") for c in cases.values() if c.find("failure") is not None)
    assert failed == ["test_fixed_model"]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_kselftest_skeletons_compile(tmp_path):
    traces = {f"{v}_{k}": bfs_trace(v, k) for v, k in CASES}
    traces.update({p: lasso_trace(p) for p in ("fence-signals", "move-completes")})
    for name, trace in traces.items():
        src = tmp_path / f"{name}.c"
        src.write_text(to_kselftest(trace))
        p = subprocess.run(["gcc", "-fsyntax-only", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
                            f"-I{HEADER.parent}", str(src)], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"{name}:\n{p.stderr}"


def test_kselftest_skeleton_structure():
    c = to_kselftest(bfs_trace("B4", "dynamic"))
    assert '#include "dmabuf_model.h"' in c
    for fn in ("exporter_thread", "importer1_thread", "hardware_thread"):
        assert f"static void *{fn}(void *arg)" in c
    assert "importer2_thread" not in c  # importer 2 makes no call in this trace
    # a hand-off before the exporter's first step, program order inside importer 1's run
    assert "if (!dmabuf_model_turn(&sched, 7))  /* hand-off from importer 1 */" in c
    assert "dmabuf_model_turn(&sched, 2)" not in c
    assert "dma_resv_lock(dmabuf->resv, NULL);" in c
    assert "dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP, false, DMABUF_MODEL_TIMEOUT) == 0" in c
    assert "dma_fence_signal(job1_fence);" in c
    for n in range(1, 9):
        assert f"step {n} (" in c and f"dmabuf_model_done(&sched, {n});" in c
