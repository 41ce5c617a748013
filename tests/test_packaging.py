"""The wheel installs one package, dmabuf_check, and lives beside PyPI's own ``properties`` and ``traces``.

Built from a copy of the source tree (so the checkout stays clean) and installed into a fresh venv
next to two real distributions whose top-level packages once collided with ours. Needs the package
index (CI reaches it); z3-solver and friends come from pip's cache after the project's own install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEIGHBOURS = ["properties==0.6.1", "traces==0.7.0"]


def run(cmd: list[str], cwd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, **kw)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".ruff_cache",
                                    ".pytest_cache", "tests", "benchmarks")
    shutil.copytree(ROOT, src, ignore=ignore)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(src)], str(tmp))
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = list((tmp / "dist").glob("dmabuf_check-*.whl"))
    env_dir = tmp / "venv"
    made = run([sys.executable, "-m", "venv", str(env_dir)], str(tmp))
    assert made.returncode == 0, made.stderr
    py = str(env_dir / "bin" / "python")
    inst = run([py, "-m", "pip", "install", "-q", str(wheel), *NEIGHBOURS], str(tmp))
    if inst.returncode != 0 and ("No matching distribution" in inst.stderr or "connection" in inst.stderr.lower()):
        pytest.fail("the package index is not reachable: " + inst.stderr.strip().splitlines()[-1])
    assert inst.returncode == 0, inst.stdout + inst.stderr
    return tmp, py, str(env_dir / "bin" / "dmabuf-check")


def test_wheel_installs_only_dmabuf_check(venv):
    tmp, py, _ = venv
    shown = run([py, "-m", "pip", "show", "-f", "dmabuf-check"], str(tmp))
    assert shown.returncode == 0, shown.stderr
    files = shown.stdout.split("Files:", 1)[1].split()
    assert files
    outside = [f for f in files if not f.startswith(("dmabuf_check/", "dmabuf_check-")) and f != "../../../bin/dmabuf-check"]
    assert outside == []
    assert any(f == "dmabuf_check/traces/kselftest/dmabuf_model.h" for f in files)  # package data
    assert any(f == "dmabuf_check/model/expected_r1.json" for f in files)
    assert any(f.startswith("dmabuf_check/model/designs/bugs/") for f in files)


def test_no_generic_top_level_names(venv):
    tmp, py, _ = venv
    r = run([py, "-c", "import model"], str(tmp))
    assert r.returncode != 0 and "No module named 'model'" in r.stderr
    r = run([py, "-c", "import checker"], str(tmp))
    assert r.returncode != 0 and "No module named 'checker'" in r.stderr


def test_runs_beside_pypi_properties_and_traces(venv, tmp_path):
    tmp, py, exe = venv
    (tmp_path / "model.py").write_text("raise SystemExit('a user file named model.py was imported')\n")
    r = run([exe, "check", "r1", "-n", "2", "--variant", "B4"], str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "no-fence-wait-deadlock" in r.stdout
    r = run([py, "-m", "dmabuf_check", "check", "r1", "-n", "1"], str(tmp_path))  # cwd holds a model.py
    assert r.returncode == 0, r.stdout + r.stderr
    # the neighbours still import, and are still theirs
    r = run([py, "-c", "import properties, traces; print(traces.__file__)"], str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "site-packages/traces/" in r.stdout


def test_uninstall_leaves_the_neighbours(venv):
    tmp, py, _ = venv
    r = run([py, "-m", "pip", "uninstall", "-y", "-q", "dmabuf-check"], str(tmp))
    assert r.returncode == 0, r.stderr
    r = run([py, "-c", "import properties, traces, traces.timeseries"], str(tmp))
    assert r.returncode == 0, r.stderr
    r = run([py, "-c", "import dmabuf_check"], str(tmp))
    assert r.returncode != 0
