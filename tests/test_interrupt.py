"""Ctrl-C: every command exits 130 and keeps what it found so far (issue 13)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def interrupt(args: list[str], after: float, ready: str) -> tuple[int, str]:
    """Run ``dmabuf-check ARGS``, send SIGINT once ``ready`` appeared in its output and ``after`` s passed."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "dmabuf_check", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    start = time.monotonic()
    while time.monotonic() - start < 60 and proc.poll() is None:
        if any(ready in line for line in list(lines)) and time.monotonic() - start >= after:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    return proc.returncode, "".join(lines)


def test_prove_keeps_the_properties_decided_before_ctrl_c(tmp_path):
    out_json = tmp_path / "proof.json"
    # --all-n: about a second a property, short steps. (A fixed-N prove of r1 now computes Houdini once for
    # the run and decides the other properties within the 0.5 s.)
    code, out = interrupt(["prove", "r1", "--all-n", "--json", str(out_json)], 0.5, "map-after-attach: proved")
    assert code == 130, out
    assert "interrupted after" in out and "map-after-attach" in out
    results = json.loads(out_json.read_text())["results"]
    assert results and results[0]["property"] == "map-after-attach" and results[0]["status"] == "proved"


def test_locks_exits_130_not_a_limit_on_ctrl_c():
    code, out = interrupt(["locks", "ttm-vram", "--buffers", "2", "--mix", "dynamic=2", "--progress-every", "1"],
                          1.5, "states")
    assert code == 130, out
    assert "incomplete: interrupted by the user" in out


def test_check_keeps_the_safety_verdicts_when_ctrl_c_stops_the_liveness_search(tmp_path):
    out_json = tmp_path / "verdict.json"
    code, out = interrupt(["check", "r1", "-n", "5", "--no-symmetry", "--liveness", "--json", str(out_json)], 0.2,
                          "liveness:")
    assert code == 130, out
    verdicts = {v["property"]: v["status"] for v in json.loads(out_json.read_text())["verdicts"]}
    assert verdicts["map-after-attach"] == "holds" and verdicts["fence-signals"] == "unknown", verdicts
