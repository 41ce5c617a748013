"""``dmabuf-check bench``: the R1 benchmark (states, states/s, memory, time to verdict).

Each configuration runs in a fresh process (``dmabuf-check check ... --json``)
so that peak memory is that run's own and the wall time is the time to a
verdict with interpreter start-up and model compilation included, the figure
to compare with Rumur's compile-plus-explore and SPIN's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from rich.table import Table

from dmabuf_check.cli import exitcodes
from dmabuf_check.cli.cmd_check import write_json_atomic
from dmabuf_check.cli.options import console, positive_int


def register(p: argparse.ArgumentParser) -> None:
    """The arguments of ``dmabuf-check bench`` (its parser and one-line help: ``cli.main.COMMANDS``)."""
    p.add_argument("--max-n", type=positive_int, default=6, metavar="N", help="largest number of importers (default 6)")
    p.add_argument("--kind", choices=("static", "dynamic"), action="append", help="only this kind (repeatable)")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    p.set_defaults(run=run)


def measure(n: int, kind: str, symmetry: bool) -> dict[str, object]:
    """Run one check in a fresh interpreter and return its figures."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        cmd = [sys.executable, "-m", "dmabuf_check", "check", "r1", "-n", str(n), "--kind", kind, "--quiet",
               "--json", out] + ([] if symmetry else ["--no-symmetry"])
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
        with open(out) as f:
            r = json.load(f)
    return {
        "kind": kind, "importers": n, "symmetry": symmetry, "states": r["states"], "transitions": r["transitions"],
        "depth": r["depth"], "explore_s": round(r["time"]["explore_seconds"], 4),
        "compile_s": round(r["time"]["compile_seconds"], 4), "time_to_verdict_s": round(wall, 3),
        "states_per_s": round(r["states"] / r["time"]["explore_seconds"]) if r["time"]["explore_seconds"] else 0,
        "peak_memory_mib": round(r["peak_memory_mb"], 1), "bytes_per_state": round(r["bytes_per_state"], 1),
        "verdict": "all hold" if r["ok"] else "VIOLATION",
    }


def expected_figures() -> dict:
    """The R1 figures two independent model checkers measured (SPIN, Rumur), shipped beside the model."""
    from importlib.resources import files

    return json.loads((files("dmabuf_check.model") / "expected_r1.json").read_text())


def run(args: argparse.Namespace) -> int:
    out = console()
    exp = expected_figures()
    rows = []
    t = Table(title="R1 benchmark (each run a fresh process; time to verdict includes start-up)")
    for col in ("kind", "N", "symmetry", "states", "expected", "transitions", "explore s", "states/s",
                "time to verdict s", "peak MiB", "B/state"):
        t.add_column(col, justify="right")
    for kind in args.kind or ["static", "dynamic"]:
        for n in range(1, args.max_n + 1):
            for sym in (True, False):
                r = measure(n, kind, sym)
                rows.append(r)
                key = "symmetry_reduced_states" if sym else "states"
                want = exp[key][kind].get(str(n))
                r["expected_states"] = want
                mark = "" if want is None else ("=" if want == r["states"] else f"!= {want}")
                t.add_row(kind, str(n), "on" if sym else "off", f"{r['states']:,}", mark, f"{r['transitions']:,}",
                          f"{r['explore_s']:.3f}", f"{r['states_per_s']:,}", f"{r['time_to_verdict_s']:.2f}",
                          f"{r['peak_memory_mib']:.0f}", f"{r['bytes_per_state']:.0f}")
                out.print(f"{kind} N={n} symmetry={'on' if sym else 'off'}: {r['states']:,} states "
                          f"in {r['time_to_verdict_s']:.2f} s", highlight=False)
    out.print(t)
    if args.json:
        write_json_atomic(args.json, {"schema": "dmabuf-check bench v1", "python": sys.version.split()[0],
                                      "runs": rows})
    bad = [r for r in rows if r["expected_states"] is not None and r["expected_states"] != r["states"]]
    return exitcodes.VIOLATED if bad else exitcodes.OK
