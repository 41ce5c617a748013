"""Lock-order analysis on R1: lockdep-shaped reports, rules files, graph outputs."""

import json
import xml.etree.ElementTree as ET

import pytest
from dmabuf_check.checker.locks.order import analyze
from dmabuf_check.checker.locks.rules import RulesError, load
from dmabuf_check.model import r1
from dmabuf_check.properties.r1 import PROPERTIES
from dmabuf_check.traces import lockdep, lockgraph

from dmabuf_check.cli.main import main

DEADLOCK_PROPS = [p for p in PROPERTIES if p.id in ("no-stuck-state", "no-fence-wait-deadlock")]


def report_of(n=2, kind="dynamic", variant=None, rules=None):
    m = r1.build(n, kind, variant)
    return analyze(m, DEADLOCK_PROPS, load(rules, m), bigger=lambda k: r1.build(k, kind, variant))


@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_correct_r1_has_no_lock_order_cycle(kind):
    rep = report_of(3, kind)
    assert rep.clean
    assert {(e.src_class, e.dst_class) for e in rep.edges} == {
        ("reservation_ww_class_mutex", "fs_reclaim"),  # map may allocate under the lock (allowed)
        ("reservation_ww_class_mutex", "dma_fence_map"),  # the move waits for fences under the lock (allowed)
    }
    assert lockdep.render(rep).strip().startswith("no lock-order cycle: 2 edges over 3 locks")


def test_b4_is_reported_like_a_lockdep_splat():
    rep = report_of(2, "dynamic", "B4")
    assert len(rep.cycles) == 1
    cyc = rep.cycles[0]
    assert [(e.src_class, e.dst_class) for e in cyc.edges] == [
        ("dma_fence_map", "reservation_ww_class_mutex"),  # the signalling path takes the lock (existing)
        ("reservation_ww_class_mutex", "dma_fence_map"),  # the exporter waits for fences under it (new)
    ]
    text = lockdep.circular(cyc, rep)
    lines = text.splitlines()
    assert "WARNING: possible circular locking dependency detected" in lines
    assert "exporter/migrate_end is trying to acquire lock:" in lines
    assert lines[lines.index("but task is already holding lock:") + 1].startswith(
        " (reservation_ww_class_mutex){+.+.}-{3:3}")
    i = lines.index(" Possible unsafe locking scenario:")
    assert lines[i + 2:i + 8] == [
        "       CPU0                    CPU1",
        "       ----                    ----",
        "  lock(reservation_ww_class_mutex);",
        "                               lock(dma_fence_map);",
        "                               lock(reservation_ww_class_mutex);",
        "  lock(dma_fence_map);",
    ]
    assert "-> #1 (reservation_ww_class_mutex){+.+.}-{3:3}:" in lines
    assert "-> #0 (dma_fence_map){++++}-{0:0}:" in lines
    assert "       step 7: hardware (fence 1): signal(1)  [dma_fence_signal]" in lines
    assert "1 lock held by exporter/migrate_end:" in lines
    # the deadlock is real here: the wait-for counterexample is linked
    assert cyc.actual is not None and cyc.actual.property == "no-fence-wait-deadlock" and cyc.actual.length == 8
    assert "ACTUAL deadlock in this configuration: no-fence-wait-deadlock after 8 steps" in text
    # and the signalling section taking the reservation lock breaks SIG-3
    assert [e.breaks for e in rep.rule_breaks] == [["taking a dma_resv lock inside a fence signalling section "
                                                     "(SIG-3, DL-8)"]]


def test_each_edge_keeps_the_shortest_trace_that_created_it():
    rep = report_of(2, "dynamic", "B4")
    by_key = {(e.src, e.dst): e for e in rep.edges}
    wait = by_key[("resv", "dma_fence_map")]
    assert [s.label for s in wait.trace.steps] == ["get(1)", "attach(1)", "lock(1)", "map(1)", "unlock(1)",
                                                   "exp_lock", "migrate_begin", "migrate_end"]
    assert by_key[("resv", "fs_reclaim")].trace.length == 4


def test_rules_file_marks_a_signalling_path(tmp_path):
    f = tmp_path / "rules.toml"
    f.write_text('signalling = ["map"]\n')
    rep = report_of(2, "dynamic", rules=str(f))
    assert not rep.clean
    [e] = rep.rule_breaks
    assert (e.src, e.dst, e.action) == ("dma_fence_map", "fs_reclaim", "map(1)")
    assert "allocation that may enter reclaim inside a fence signalling section" in e.breaks[0]
    # the boot-time priming (fs_reclaim -> mmu notifier -> dma_fence_map) closes the cycle, as in a real splat
    [cyc] = rep.cycles
    assert [(x.src_class, x.dst_class, x.primed) for x in cyc.edges] == [
        ("fs_reclaim", "mmu_notifier_invalidate_range_start", True),
        ("mmu_notifier_invalidate_range_start", "dma_fence_map", True),
        ("dma_fence_map", "fs_reclaim", False),
    ]
    text = lockdep.render(rep)
    assert "Chain exists of:\n  fs_reclaim --> mmu_notifier_invalidate_range_start --> dma_fence_map\n" in text
    assert "  rlock(dma_fence_map);\n" in text  # the signalling section holds it for read
    assert "  dma_fence_map -> fs_reclaim (importer 1/map(1)): an allocation that may enter reclaim" in text
    assert cyc.actual is None and "potential deadlock" in text


@pytest.mark.parametrize(
    "text,message",
    [
        ("locks = [\n", "does not parse"),
        ('colour = "red"\n', "unknown key 'colour'"),
        ('locks = ["vm_lock"]\n', "lock 'vm_lock' is not a lock of the design"),
        ('order = [["resv", "gpu_lock"]]\n', "names unknown lock 'gpu_lock'"),
        ('order = [["fs_reclaim", "resv"]]\n', "fs_reclaim before resv contradicts resv before fs_reclaim (RESV-L1)"),
        ('order = [["dma_fence_map", "mmap_lock"]]\n', "contradicts mmap_lock before dma_fence_map"),
        ('order = [["resv", "fs_reclaim", "resv"]]\n', "names lock 'resv' twice"),
        ('[[forbid]]\nheld = "resv"\nacquire = "fs_reclaim"\n', "contradicts the order resv before fs_reclaim"),
        ('[[forbid]]\nheld = "resv"\n', "forbid #1 needs exactly held, acquire"),
        ('signalling = ["irq_done"]\n', "signalling path 'irq_done' is not an action of the design"),
        ("order = 3\n", "order must be a list of lists"),
    ],
)
def test_bad_rules_files_are_rejected_with_their_own_message(tmp_path, capsys, text, message):
    f = tmp_path / "rules.toml"
    f.write_text(text)
    m = r1.build(2, "dynamic")
    with pytest.raises(RulesError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(str(f), m)
    assert main(["locks", "r1", "-n", "2", "--rules", str(f)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_rules_file(capsys):
    assert main(["locks", "r1", "--rules", "/nonexistent/rules.toml"]) == 2
    assert "rules file /nonexistent/rules.toml not found" in capsys.readouterr().err


def test_a_device_as_rules_file_is_never_read(capsys):
    """/dev/zero or /dev/full as --rules read forever and filled the memory (found by tests/fuzz)."""
    assert main(["locks", "r1", "-n", "2", "--rules", "/dev/full"]) == 2
    assert "rules file /dev/full is not a regular file" in capsys.readouterr().err


def test_locks_command_writes_dot_svg_and_json(tmp_path, capsys):
    dot, svg, js = tmp_path / "g.dot", tmp_path / "g.svg", tmp_path / "g.json"
    code = main(["locks", "r1", "-n", "2", "--variant", "B4", "--dot", str(dot), "--svg", str(svg), "--json", str(js)])
    assert code == 1
    out = capsys.readouterr().out
    assert "WARNING: possible circular locking dependency detected" in out
    assert '"dma_fence_map" -> "reservation_ww_class_mutex"' in dot.read_text()
    root = ET.fromstring(svg.read_text())
    assert root.tag.endswith("svg")
    red = [p for p in root.iter("{http://www.w3.org/2000/svg}path") if p.get("stroke") == lockgraph.RED]
    assert len(red) == 2  # both edges of the cycle
    data = json.loads(js.read_text())
    assert data["schema"] == "dmabuf-check locks v1" and data["clean"] is False and len(data["cycles"]) == 1
    assert main(["locks", "r1", "-n", "2"]) == 0
    assert "no lock-order cycle" in capsys.readouterr().out
