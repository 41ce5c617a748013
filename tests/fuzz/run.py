"""The larger fuzz run, as a script (the test suite runs a fixed-seed slice of the same generators):

    python tests/fuzz/run.py --count 20000 --seed 1 [--keep DIR]

Prints one line per failing case and a summary per category; a failing case's input files are copied into
DIR (default tests/fuzz/corpus/found) with its command line, to be kept as a regression case.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import generators  # noqa: E402
import harness  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--deadline", type=float, default=30.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--keep", type=Path, default=HERE / "corpus" / "found")
    ap.add_argument("--verbose", action="store_true", help="print each case before running it")
    a = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        os.chdir(scratch)  # relative outputs a case writes land in the scratch directory
        cases = generators.cases(a.seed, a.count, scratch)
        stats: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        failed = 0
        for n, case in enumerate(cases):
            if a.verbose:
                print(f"#{n} {case.category}: {case.what} | {' '.join(case.argv)[:300]}", flush=True)
            r = harness.run(case.argv, a.deadline)
            if a.verbose:
                print(f"   exit {r.code} in {r.seconds:.1f} s  {r.err.strip()[-160:]}", flush=True)
            stats[case.category][r.problem.split(":")[0] or f"exit {r.code}"] += 1
            if r.problem:
                failed += 1
                print(f"FAIL {case.category} #{n}: {r.problem} | {case.what} | {' '.join(case.argv)[:300]}")
                a.keep.mkdir(parents=True, exist_ok=True)
                for arg in case.argv:
                    try:
                        if arg.startswith(str(scratch)) and Path(arg).is_file():
                            shutil.copy(arg, a.keep / f"seed{a.seed}_{n}_{Path(arg).name}")
                    except OSError:  # a name too long to be a file
                        pass
                (a.keep / f"seed{a.seed}_{n}.json").write_text(json.dumps(
                    {"argv": case.argv, "what": case.what, "problem": r.problem}, indent=1))
    for cat, c in sorted(stats.items()):
        print(f"{cat:8} {sum(c.values()):6}  " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    print(f"{a.count} cases, {failed} failing, {time.perf_counter() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
