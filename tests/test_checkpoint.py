"""Checkpoint and resume of the breadth-first search (issue 13): a run killed at any moment resumes to exactly
the counts, verdicts and shortest counterexamples of a run that was never stopped."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from dmabuf_check.checker.api import check_model
from dmabuf_check.checker.explicit import checkpoint
from dmabuf_check.checker.explicit.search import CheckpointPlan, Limits
from dmabuf_check.model import r1

from dmabuf_check.cli.main import main
from dmabuf_check.registry import entry, select

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# R1 B4 with five importers and no reduction: 540,740 states; --keep-going finds no-fence-wait-deadlock in 8
# steps (before any kill) and no-stuck-state in 28 (deep in the search, often after it)
B4 = ["check", "r1", "-n", "5", "--variant", "B4", "--no-symmetry", "--keep-going"]


def _figures(path) -> dict:
    """What must not change between an uninterrupted and a resumed run: everything but the clock and memory."""
    d = json.loads(open(path).read())
    for k in ("time", "peak_memory_mb", "bytes_per_state", "tool"):
        d.pop(k, None)
    return d


def _run(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "dmabuf_check", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    ref = tmp_path / "ref.json"
    assert main([*B4, "--quiet", "--json", str(ref)]) == 1
    want = _figures(ref)
    assert want["states"] == 540740 and want["transitions"] == 2860308
    assert {v["property"]: v.get("steps") for v in want["verdicts"] if v["status"] == "violated"} == {
        "no-stuck-state": 28, "no-fence-wait-deadlock": 8}
    cp = tmp_path / "cp"
    proc = _run([*B4, "--checkpoint", str(cp), "--checkpoint-every", "0.2"])
    start = time.monotonic()
    while not (cp / checkpoint.FILE).exists() and proc.poll() is None and time.monotonic() - start < 60:
        time.sleep(0.02)
    time.sleep(random.Random(13).uniform(0.3, 1.5))  # a moment between (or during) checkpoint writes
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    snap = checkpoint.load(cp)
    assert 0 < snap.sid < 540740, snap.summary()
    out = tmp_path / "resumed.json"
    done = _run([*B4, "--resume", str(cp), "--json", str(out)])
    _, err = done.communicate(timeout=120)
    assert done.returncode == 1, err
    assert "dmabuf-check: resuming: " in err
    assert _figures(out) == want
    assert not list(cp.glob(".*.tmp"))  # a temporary file the kill left behind is cleared by the next run


def _b4(n: int = 3):
    e = entry("r1")
    return r1.build(n, "dynamic", variant="B4"), select(e, None, False)


def test_a_limit_writes_a_checkpoint_and_resume_carries_the_violations_found_before(tmp_path):
    model, props = _b4(4)
    whole = check_model(model, props, symmetry=False, stop_at_first=False)
    plan = CheckpointPlan(str(checkpoint.prepare(tmp_path)), every=1e9)
    cut = check_model(model, props, symmetry=False, stop_at_first=False, limits=Limits(max_states=20000),
                      checkpoint_plan=plan)
    assert not cut.complete and cut.stop_reason.startswith("state limit")
    snap = checkpoint.load(tmp_path)
    assert "no-fence-wait-deadlock" in snap.found  # found before the limit, carried over
    rest = check_model(model, props, symmetry=False, stop_at_first=False, resume=snap)
    assert (rest.states, rest.transitions, rest.depth, rest.end_states) == (
        whole.states, whole.transitions, whole.depth, whole.end_states)
    assert rest.coverage == whole.coverage
    assert [(v.property, v.status) for v in rest.verdicts] == [(v.property, v.status) for v in whole.verdicts]
    for a, b in zip(rest.verdicts, whole.verdicts):
        assert (a.counterexample and [s.action for s in a.counterexample.steps]) == (
            b.counterexample and [s.action for s in b.counterexample.steps])


def test_ctrl_c_inside_the_search_checkpoints_the_last_consistent_point(tmp_path):
    """Ctrl-C can land inside an expansion that stored some successors and counted some coverage: the checkpoint
    goes back to the last point between expansions, so nothing is counted twice after the resume."""
    model, props = _b4(4)
    whole = check_model(model, props, symmetry=False, stop_at_first=False)
    calls = [0]

    def progress(_p) -> None:
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt

    plan = CheckpointPlan(str(checkpoint.prepare(tmp_path)), every=1e9)
    cut = check_model(model, props, symmetry=False, stop_at_first=False, progress=progress, checkpoint_plan=plan)
    assert cut.stop_reason == "interrupted by the user"
    snap = checkpoint.load(tmp_path)
    assert 0 < snap.sid < cut.states
    rest = check_model(model, props, symmetry=False, stop_at_first=False, resume=snap)
    assert (rest.states, rest.transitions, rest.coverage) == (whole.states, whole.transitions, whole.coverage)
    assert [v.status for v in rest.verdicts] == [v.status for v in whole.verdicts]


def _small_checkpoint(tmp_path, capsys) -> str:
    cp = str(tmp_path / "cp")
    assert main(["check", "r1", "-n", "4", "--no-symmetry", "--quiet", "--max-states", "5000",
                 "--checkpoint", cp]) == 3
    assert f"checkpoint written to {cp}; continue with the same command and --resume {cp}" in capsys.readouterr().err
    return cp


def test_resuming_another_check_is_one_line_naming_the_command_that_wrote_it(tmp_path, capsys):
    cp = _small_checkpoint(tmp_path, capsys)
    assert main(["check", "r1", "-n", "3", "--no-symmetry", "--quiet", "--resume", cp]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err]
    assert "the checkpoint is of another check (it was written by: dmabuf-check check r1 -n 4 --no-symmetry" in err
    assert main(["check", "r1", "-n", "4", "--quiet", "--resume", cp]) == 2  # symmetry on: another search
    assert "of another check" in capsys.readouterr().err
    assert main(["check", "r1", "-n", "4", "--no-symmetry", "--quiet", "--resume", cp]) == 0
    assert "all 8 properties hold (68,038 states)" in capsys.readouterr().out  # expected-R1: dynamic N=4


@pytest.mark.parametrize("damage,message", [
    (lambda b: b[: len(b) // 2], "is truncated or damaged"),
    (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "is damaged (its checksum does not match)"),
    (lambda b: b"PK\x03\x04" + b[4:], "is not a dmabuf-check checkpoint"),
    (lambda b: checkpoint.MAGIC + b"{not json\n" + b[len(checkpoint.MAGIC):], "has a damaged header"),
])
def test_a_damaged_checkpoint_is_refused_in_one_line(tmp_path, capsys, damage, message):
    cp = _small_checkpoint(tmp_path, capsys)
    f = checkpoint.path_in(cp)
    f.write_bytes(damage(f.read_bytes()))
    assert main(["check", "r1", "-n", "4", "--no-symmetry", "--quiet", "--resume", cp]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.splitlines() == [err] and "Traceback" not in err


def test_unusable_checkpoint_directories_are_refused_before_the_search(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / checkpoint.FILE).mkdir()
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / checkpoint.FILE)  # opening it to read would wait for a writer forever
    for argv, message in [
        (["--resume", str(tmp_path / "none")], "no such directory"),
        (["--resume", str(tmp_path)], "no checkpoint there"),
        (["--checkpoint", str(tmp_path / "file")], "cannot create the directory"),
        (["--checkpoint", str(tmp_path / "d")], "exists and is not a regular file"),
        (["--resume", str(tmp_path), "--liveness"], "a check with --liveness is not resumed"),
        (["--resume", str(tmp_path / "fifo")], "is not a regular file"),
    ]:
        assert main(["check", "r1", "-n", "2", "--quiet", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and err.splitlines() == [err], (argv, err)
