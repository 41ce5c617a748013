"""Benchmark the built-in designs: states, time and memory, with and without symmetry.

    PYTHONPATH=. python benchmarks/bench_designs.py [--json FILE] [--quick]

Every configuration runs in a fresh process (``dmabuf-check check NAME ...
--json``), so peak memory is that run's own and the wall time includes
interpreter start-up and model compilation. Part 1 checks each built-in
design with three importers (mixed kinds where the design supports them);
part 2 shows how the state count grows with the number of importers and
of buffers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DESIGNS = [  # (design, mix): N = 3, as tests/test_designs_builtin.py checks them
    ("ttm-vram", "static=1,dynamic=1,p2p=1"),
    ("ttm-vram", "static=1,p2p=1,cpu=1"),
    ("gem-prime", "static=1,dynamic=1,cpu=1"),
    ("system-heap", "static=1,dynamic=1,cpu=1"),
    ("udmabuf", "static=1,dynamic=1,cpu=1"),
    ("vb2-camera", "static=2,cpu=1"),
    ("rfc2011-reference", "static=3"),
    ("ttm-evict", "static=1,dynamic=1"),
    ("ttm-evict", "dynamic=3"),
]

GROWTH = [  # (design, kind, buffers, importer counts)
    ("ttm-vram", "dynamic", 1, (1, 2, 3, 4)),
    ("ttm-vram", "dynamic", 2, (1, 2, 3)),
    ("gem-prime", "static", 1, (1, 2, 3, 4)),
    ("gem-prime", "static", 2, (1, 2, 3)),
]


def measure(design: str, mix: str, symmetry: bool, buffers: int | None = None, time_limit: float = 300) -> dict:
    """One check in a fresh interpreter; its figures."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        cmd = [sys.executable, "-m", "dmabuf_check", "check", design, "--mix", mix, "--quiet", "--json", out,
               "--time-limit", str(time_limit)]
        cmd += [] if symmetry else ["--no-symmetry"]
        cmd += ["--buffers", str(buffers)] if buffers else []
        env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 3):
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
        with open(out) as f:
            r = json.load(f)
    t = r["time"]
    return {"design": design, "mix": mix, "buffers": buffers or r["parameters"].get("buffers"), "symmetry": symmetry,
            "states": r["states"], "transitions": r["transitions"], "depth": r["depth"],
            "explore_s": round(t["explore_seconds"], 3), "compile_s": round(t["compile_seconds"], 3),
            "wall_s": round(wall, 2), "peak_mib": round(r["peak_memory_mb"], 1), "verdict": r["verdict"],
            "complete": r["complete"]}


def table(rows: list[dict], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[c]:,}" if isinstance(r[c], int) and not isinstance(r[c], bool)
                                         else str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    ap.add_argument("--quick", action="store_true", help="skip the largest configurations")
    args = ap.parse_args()
    per_design = []
    for design, mix in DESIGNS:
        for sym in (True, False):
            if args.quick and design == "ttm-evict" and mix == "dynamic=3" and not sym:
                continue
            r = measure(design, mix, sym)
            per_design.append(r)
            print(f"{design} {mix} symmetry={'on' if sym else 'off'}: {r['states']:,} states, {r['wall_s']} s",
                  file=sys.stderr)
    growth = []
    for design, kind, buffers, counts in GROWTH:
        for n in counts:
            for sym in (True, False):
                if args.quick and n * buffers >= 6 and not sym:
                    continue
                r = measure(design, f"{kind}={n}", sym, buffers=buffers)
                r["importers"] = n
                growth.append(r)
                print(f"{design} {kind}={n} buffers={buffers} symmetry={'on' if sym else 'off'}: "
                      f"{r['states']:,} states, {r['wall_s']} s", file=sys.stderr)
    print("## Built-in designs (N = 3)\n")
    print(table(per_design, ["design", "mix", "symmetry", "states", "transitions", "explore_s", "compile_s",
                             "wall_s", "peak_mib", "verdict"]))
    print("\n## Growth with importers and buffers\n")
    print(table(growth, ["design", "importers", "buffers", "symmetry", "states", "explore_s", "wall_s", "peak_mib",
                         "verdict", "complete"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"schema": "dmabuf-check design bench v1", "python": sys.version.split()[0],
                       "designs": per_design, "growth": growth}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
