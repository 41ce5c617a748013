"""Benchmark the driver programs: states, time and memory, and the same bug as a program and as a design.

    PYTHONPATH=. python benchmarks/bench_programs.py [--json FILE]

Every run is a fresh process (``dmabuf-check check NAME --json``), so peak memory is that run's own and
the wall time includes start-up and compilation. Part 1: every built-in driver program (the fixed
versions; all properties hold). Part 2: every seeded program bug, checked by default (stop at the first
violation). Part 3: one bug in both forms: the system heap exporter with one importer as a flag-based
design (``system-heap`` with ``--mix static=1``, and its seeded bug ``bug-put-while-attached``) and as
code paths (``system-heap-paths`` and ``bug-heap-importer-put-while-attached``). The two do not model
the same amount: the design composes the whole protocol of its generation (vmap, mmap, CPU access,
fences); the program explores exactly the code paths written, here the importer lifecycle, CPU access
brackets and two racing closes of the fd.
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
sys.path.insert(0, ROOT)
from benchmarks.bench_designs import table  # noqa: E402 - one table renderer for the benchmarks

PAIRS = [  # (as a design, design options, as a program)
    ("system-heap", ["--mix", "static=1"], "system-heap-paths"),
    ("bug-put-while-attached", ["--mix", "static=1"], "bug-heap-importer-put-while-attached"),
]


def measure(name: str, extra: list[str] = ()) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        cmd = [sys.executable, "-m", "dmabuf_check", "check", name, *extra, "--quiet", "--json", out]
        env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
        with open(out) as f:
            r = json.load(f)
    t = r["time"]
    explore = t["explore_seconds"]
    violated = [v["property"] for v in r["verdicts"] if v["status"] == "violated"]
    lengths = [v["steps"] for v in r["verdicts"] if v["status"] == "violated"]
    return {"name": name, "options": " ".join(extra), "states": r["states"], "transitions": r["transitions"],
            "explore_s": round(explore, 3), "compile_s": round(t["compile_seconds"], 3), "wall_s": round(wall, 2),
            "states_per_s": int(r["states"] / explore) if explore > 0 else 0, "peak_mib": round(r["peak_memory_mb"], 1),
            "verdict": r["verdict"], "violated": ", ".join(violated), "steps": lengths[0] if lengths else ""}


def main() -> int:
    from dmabuf_check.registry import bugs, builtin

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    args = ap.parse_args()
    programs = [measure(n) for n, ref in builtin().items() if ref.is_program]
    seeded = [measure(n) for n, ref in bugs().items() if ref.is_program]
    pairs = []
    for design, opts, program in PAIRS:
        a, b = measure(design, opts), measure(program)
        pairs.append({"design": design, "design_states": a["states"], "design_wall_s": a["wall_s"],
                      "design_verdict": a["verdict"], "design_steps": a["steps"], "program": program,
                      "program_states": b["states"], "program_wall_s": b["wall_s"], "program_verdict": b["verdict"],
                      "program_steps": b["steps"]})
    cols = ["name", "states", "transitions", "explore_s", "compile_s", "wall_s", "states_per_s", "peak_mib", "verdict"]
    print("## Built-in driver programs\n")
    print(table(programs, cols))
    print("\n## Seeded program bugs\n")
    print(table(seeded, cols[:1] + ["violated", "steps"] + cols[1:-1]))
    print("\n## One bug, as a design and as a program\n")
    print(table(pairs, ["design", "design_states", "design_wall_s", "design_verdict", "design_steps", "program",
                        "program_states", "program_wall_s", "program_verdict", "program_steps"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"schema": "dmabuf-check program bench v1", "python": sys.version.split()[0],
                       "programs": programs, "seeded": seeded, "pairs": pairs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
