"""Long differential run: explicit engine vs BMC vs k-induction on many seeded random models.

The test suite runs 2,000 models (tests/test_z3_random.py); this runs as many as asked from any
seed, every model through all three engines, and reports each outcome, every disagreement (with the
seed that reproduces it) and the time taken.

    python benchmarks/bench_random.py --models 20000 --seed 1 --json random.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from dmabuf_check.checker.z3.proof import PROVED, UNKNOWN, VIOLATED  # noqa: E402
from dmabuf_check.checker.z3.prove import Options, prove_fixed  # noqa: E402
from random_models import RandomModel  # noqa: E402
from test_z3_random import NEVER, explicit_outcome, z3_depths  # noqa: E402


def compare(seed: int) -> tuple[str, str | None]:
    """The explicit outcome, and a disagreement message (None when all engines agree)."""
    rm = RandomModel(seed)
    kind, depth = explicit_outcome(rm)
    bad, err = z3_depths(rm, depth + 1 if kind == "holds" else 80)
    if kind == "violated" and not (bad == depth and bad <= err):
        return kind, f"seed {seed}: explicit violated at {depth}, BMC predicate {bad}, domain {err}"
    if kind == "domain" and not err <= bad:
        return kind, f"seed {seed}: explicit domain error, BMC predicate {bad} before domain {err}"
    if kind == "holds" and not bad == err == NEVER:
        return kind, f"seed {seed}: explicit holds (depth {depth}), BMC predicate {bad}, domain {err}"
    if kind != "domain":
        r = prove_fixed(rm.model, rm.property(), Options(engine="kind", lemmas=False, timeout=30, depth=30))
        if kind == "holds" and r.status not in (PROVED, UNKNOWN):
            return kind, f"seed {seed}: explicit holds, k-induction {r.status}"
        if kind == "violated" and (r.status != VIOLATED or r.counterexample.length != depth):
            return kind, f"seed {seed}: explicit violated at {depth}, k-induction {r.status}"
    return kind, None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    seen = {"violated": 0, "holds": 0, "domain": 0}
    problems: list[str] = []
    t0 = time.perf_counter()
    for k in range(args.models):
        kind, problem = compare(args.seed + k)
        seen[kind] += 1
        if problem:
            problems.append(problem)
            print(problem, flush=True)
        if (k + 1) % 1000 == 0:
            print(f"{k + 1:,} models, {time.perf_counter() - t0:.0f} s, {len(problems)} disagreements", flush=True)
    secs = time.perf_counter() - t0
    print(f"{args.models:,} models from seed {args.seed} in {secs:.0f} s: {seen}; disagreements: {len(problems)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"models": args.models, "seed": args.seed, "seconds": round(secs, 1), "outcomes": seen,
                       "disagreements": problems}, f, indent=2)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
