"""The command line: exit codes, one-line errors, JSON output, limits."""

import json
import os
import subprocess
import sys

import pytest

from dmabuf_check.cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        code = main(list(argv))
        raise SystemExit(code)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["check", "r9"], "unknown model 'r9'"),
        (["check", "r1", "--variant", "B9"], "unknown variant 'B9'"),
        (["check", "r1", "--property", "no-such-thing"], "unknown property 'no-such-thing'"),
        (["check", "r1", "--importers", "0"], "expected a number of at least 1, got 0"),
        (["check", "r1", "--importers", "-2"], "expected a number of at least 1, got -2"),
        (["check", "r1", "--importers", "three"], "expected a whole number, got 'three'"),
        (["check", "r1", "--kind", "bogus"], "--kind must be one of static, dynamic, not 'bogus'"),
        (["check", "r1", "--kind", "static", "--variant", "B2"], "variant B2 (no-move-notify) is defined for dynamic"),
        (["check", "r1", "--time-limit", "0"], "expected a finite number above 0"),
        (["check", "r1", "--json", "/dev/null/x.json"], "--json /dev/null/x.json: /dev/null is a file, not a directory"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out


def test_no_traceback_from_a_real_process():
    env = {**os.environ, "PYTHONPATH": ROOT}
    p = subprocess.run([sys.executable, "-m", "dmabuf_check", "check", "r1", "-n", "x"], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_all_hold_exits_0_and_writes_json(capsys, tmp_path):
    path = tmp_path / "r.json"
    code, out, _ = run_cli(capsys, "check", "r1", "-n", "3", "--kind", "dynamic", "--json", str(path))
    assert code == 0
    assert "all 8 properties hold (1,848 states)" in out
    data = json.loads(path.read_text())
    assert data["ok"] is True and data["states"] == 1848 and data["symmetry"] is True
    assert {v["property"]: v["status"] for v in data["verdicts"]}["no-fence-wait-deadlock"] == "holds"


def test_violation_exits_1_and_prints_the_trace(capsys):
    code, out, _ = run_cli(capsys, "check", "r1", "-n", "2", "--variant", "B4", "--no-symmetry", "--calls")
    assert code == 1
    assert "no-fence-wait-deadlock violated after 8 steps" in out
    assert "exporter → fence 1 → lock resv → exporter" in out
    assert "migrate_begin" in out and "exp IDLE → WAIT" in out
    assert "exporter: dma_resv_lock(dmabuf->resv, NULL)" in out  # the per-thread call view


def test_state_limit_exits_3_with_partial_figures(capsys, tmp_path):
    path = tmp_path / "r.json"
    code, out, _ = run_cli(capsys, "check", "r1", "-n", "5", "--no-symmetry", "--max-states", "5000",
                           "--json", str(path))
    assert code == 3
    assert "incomplete: state limit of 5000 reached" in out
    data = json.loads(path.read_text())
    assert data["complete"] is False and data["states"] >= 5000
    assert all(v["status"] == "unknown" for v in data["verdicts"])


def test_time_limit_exits_3(capsys):
    code, out, _ = run_cli(capsys, "check", "r1", "-n", "6", "--no-symmetry", "--time-limit", "0.2")
    assert code == 3
    assert "time limit of 0.2 s reached" in out


def test_single_property_selection(capsys):
    code, out, _ = run_cli(capsys, "check", "r1", "-n", "2", "--variant", "B4", "--property", "map-after-attach")
    assert code == 0
    assert "all 1 properties hold" in out


def test_list_names_models_variants_and_properties(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for word in ("r1", "B4", "signal-takes-lock", "no-fence-wait-deadlock", "MIG-4"):
        assert word in out


def test_memory_limit_exits_3(capsys):
    code, out, _ = run_cli(capsys, "check", "r1", "-n", "6", "--no-symmetry", "--max-memory", "1")
    assert code == 3
    assert "memory limit of 1 MiB reached" in out


def test_ctrl_c_keeps_partial_figures():
    from dmabuf_check.checker.explicit.search import INTERRUPTED, explore
    from dmabuf_check.model import r1
    from dmabuf_check.properties.r1 import PROPERTIES

    def interrupt(progress):
        raise KeyboardInterrupt

    r = explore(r1.build(5, "dynamic"), PROPERTIES, symmetry=False, progress=interrupt)
    assert r.stop_reason == INTERRUPTED and not r.complete and r.states > 4096
