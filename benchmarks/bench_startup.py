"""Time to verdict of small checks, which start-up dominates (issue 14: <= 0.1 s for R1 N <= 4 and
one-buffer designs).

    PYTHONPATH=. python benchmarks/bench_startup.py [--runs 5] [--json FILE]

Each command runs ``--runs`` times in a fresh interpreter, the commands taking turns (a machine shared
with other work slows them alike); the median wall time of each is printed. The Python API's time for
the same R1 check is the floor the command line is compared with. ``tests/test_startup.py`` checks the
modules such a check imports (no timing in the suite: it is flaky on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMMANDS = [
    ["check", "r1", "-n", "1"],
    ["check", "r1", "-n", "4"],
    ["check", "udmabuf"],
    ["check", "system-heap"],
    ["check", "rfc2011-reference"],
    ["--version"],
]
API = "from dmabuf_check import check; assert check('r1', importers=1).ok"  # the same check as the first


def wall(argv: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs of each command (default 5)")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = ap.parse_args()
    runs: dict[str, list[float]] = {}
    cases = [("dmabuf-check " + " ".join(c), ["-m", "dmabuf_check", *c]) for c in COMMANDS]
    cases.append(("python API: check('r1', importers=1)", ["-c", API]))
    for _ in range(args.runs):
        for name, argv in cases:
            runs.setdefault(name, []).append(wall(argv))
    rows = [{"command": name, "median_s": round(statistics.median(t), 3), "runs": [round(x, 3) for x in t]}
            for name, t in runs.items()]
    width = max(len(r["command"]) for r in rows)
    print(f"{'command':<{width}}  median s  (of {args.runs} runs, in turns)")
    for r in rows:
        print(f"{r['command']:<{width}}  {r['median_s']:8.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"schema": "dmabuf-check startup bench v1", "python": sys.version.split()[0], "rows": rows}, f,
                      indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
