"""Benchmark of the z3 back end on R1 (not a test): prints tables and writes JSON.

Measured, for both kinds of importers:

- BMC speed: seconds to unroll a correct R1 to depth 10, 20, 30 (no violation,
  so every depth is a full query), and depths per second, N = 2..8;
- BMC on the seeded bugs B1-B6: shortest counterexample length and time,
  N = 2..8 (N = 2, 3 are compared with expected-R1.json by the tests);
- fixed-N proofs of every R1 invariant with k-induction and with Spacer (both
  strengthened by Houdini lemmas, certificates re-checked), N = 1..8, and
  plain Spacer without lemmas for small N;
- proofs for every N.

Run: ``PYTHONPATH=. python benchmarks/bench_z3.py [--max-n 8] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import z3
from rich.console import Console
from rich.table import Table

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dmabuf_check.checker.z3.alln import prove_all_n  # noqa: E402
from dmabuf_check.checker.z3.bmc import bmc  # noqa: E402
from dmabuf_check.checker.z3.encode import FixedSystem  # noqa: E402
from dmabuf_check.checker.z3.proof import Deadline  # noqa: E402
from dmabuf_check.checker.z3.prove import Options, domain_lemmas, prove_fixed  # noqa: E402
from dmabuf_check.model import r1  # noqa: E402
from dmabuf_check.properties.r1 import PROPERTIES  # noqa: E402

KINDS = ("static", "dynamic")
BUG_PROPERTY = {"B1": "no-migration-while-mapped", "B2": "no-migration-while-mapped",
                "B3": "dma-targets-current-storage", "B4": "no-fence-wait-deadlock", "B5": "map-after-attach",
                "B6": "attach-holds-ref"}
BY_ID = {p.id: p for p in PROPERTIES}
SECTIONS = ("bmc", "bugs", "fixed", "pure", "alln")


def bmc_speed(max_n: int, budget: float) -> list[dict]:
    """Unroll a correct R1 (no violation: every depth is a full query) for ``budget`` seconds.

    As ``dmabuf-check prove --engine bmc`` does: Houdini lemmas first when the
    model has assignments that could leave a domain (static pins), included
    in the time; BMC then checks the property and the domains at every depth.
    """
    rows = []
    for kind in KINDS:
        for n in range(2, max_n + 1):
            marks: dict[int, float] = {}
            t0 = time.perf_counter()
            model = r1.build(n, kind)
            system = FixedSystem(model)
            opts = Options(engine="bmc", properties=PROPERTIES, build=lambda k, kind=kind: r1.build(k, kind))
            lemmas = domain_lemmas(model, system, opts, Deadline(budget), lambda text: None)
            lemma_seconds = time.perf_counter() - t0
            bmc(model, [BY_ID["map-after-attach"]], max_depth=60, timeout=budget, system=system, invariants=lemmas,
                progress=lambda p, marks=marks: marks.setdefault(p.depth, p.seconds))
            total = time.perf_counter() - t0
            reached = max(marks) if marks else 0
            rows.append({"kind": kind, "n": n, "depth": reached, "seconds": round(total, 2),
                         "houdini_seconds": round(lemma_seconds, 2),
                         **{f"t{d}": round(marks[d], 2) if d in marks else None for d in (10, 20, 30)},
                         "depth_per_second": round(reached / total, 2) if total else 0.0})
            print(f"  {kind:<8} N={n} depth {reached} in {total:.1f} s", flush=True)
    return rows


def bmc_bugs(max_n: int, timeout: float) -> list[dict]:
    rows = []
    for variant, prop in BUG_PROPERTY.items():
        kinds = [k for k in KINDS if r1.VARIANTS[variant]["kind"] in ("either", k)]
        for kind in kinds:
            for n in range(2, max_n + 1):
                t0 = time.perf_counter()
                r = bmc(r1.build(n, kind, variant), [BY_ID[prop]], max_depth=15, timeout=timeout)[0]
                rows.append({"variant": variant, "kind": kind, "n": n, "property": prop, "status": r.status,
                             "length": r.counterexample.length if r.counterexample else None,
                             "seconds": round(time.perf_counter() - t0, 2)})
    return rows


def fixed_proofs(max_n: int, timeout: float, runs: list[tuple[str, bool]]) -> list[dict]:
    """Every R1 invariant at N = 1..max_n with each (engine, lemmas) of ``runs``."""
    rows = []
    for kind in KINDS:
        for n in range(1, max_n + 1):
            model = r1.build(n, kind)
            for p in PROPERTIES:
                for engine, lemmas in runs:
                    opts = Options(engine=engine, timeout=timeout, lemmas=lemmas, properties=PROPERTIES,
                                   build=lambda k, kind=kind: r1.build(k, kind))
                    t0 = time.perf_counter()
                    r = prove_fixed(model, p, opts)
                    rows.append({"kind": kind, "n": n, "property": p.id, "engine": engine + ("" if lemmas else "-pure"),
                                 "status": r.status, "seconds": round(time.perf_counter() - t0, 2), "depth": r.depth,
                                 "certificate_conjuncts": len(r.certificate.invariant) if r.certificate else None,
                                 "certificate_checked": r.certificate.checked if r.certificate else None,
                                 "note": r.note})
                    print(f"  {kind:<8} N={n} {p.id:<28} {rows[-1]['engine']:<9} {r.status:<8} "
                          f"{rows[-1]['seconds']:>7.2f} s", flush=True)
    return rows


def all_n_proofs(timeout: float) -> list[dict]:
    rows = []
    for kind in KINDS:
        for p in PROPERTIES:
            t0 = time.perf_counter()
            r = prove_all_n(lambda k, kind=kind: r1.build(k, kind), p, PROPERTIES, timeout=timeout)
            rows.append({"kind": kind, "property": p.id, "status": r.status,
                         "seconds": round(time.perf_counter() - t0, 2),
                         "lemmas": r.certificate.invariant[:-1] if r.certificate else [], "note": r.note})
            print(f"  {kind:<8} {p.id:<28} {r.status:<8} {rows[-1]['seconds']:>7.2f} s", flush=True)
    return rows


def print_tables(out: Console, data: dict) -> None:
    t = Table(title="BMC on correct R1 (map-after-attach, no violation): seconds to reach a depth", show_edge=False)
    for col in ("kind", "N", "depth 10", "depth 20", "depth 30", "depth reached", "seconds", "depths/s"):
        t.add_column(col, justify="right")
    for r in data["bmc_speed"]:
        t.add_row(r["kind"], str(r["n"]), *(str(r[f"t{d}"] or "-") for d in (10, 20, 30)), str(r["depth"]),
                  str(r["seconds"]), str(r["depth_per_second"]))
    out.print(t)
    t = Table(title="BMC on B1-B6: shortest counterexample length (seconds)", show_edge=False)
    ns = sorted({r["n"] for r in data["bmc_bugs"]})
    for col in ["variant", "kind"] + [f"N={n}" for n in ns]:
        t.add_column(col, justify="right")
    keys = sorted({(r["variant"], r["kind"]) for r in data["bmc_bugs"]})
    for v, k in keys:
        cells = {r["n"]: f"{r['length']} ({r['seconds']})" for r in data["bmc_bugs"] if (r["variant"], r["kind"]) == (v, k)}
        t.add_row(v, k, *[cells.get(n, "") for n in ns])
    out.print(t)
    for engine in sorted({r["engine"] for r in data["fixed"]}):
        t = Table(title=f"fixed-N proofs, engine {engine}: seconds (status if not proved)", show_edge=False)
        ns = sorted({r["n"] for r in data["fixed"] if r["engine"] == engine})
        for col in ["kind", "property"] + [f"N={n}" for n in ns]:
            t.add_column(col, justify="right")
        for kind in KINDS:
            for p in PROPERTIES:
                cells = {r["n"]: (f"{r['seconds']}" if r["status"] == "proved" else f"{r['status']} {r['seconds']}")
                         for r in data["fixed"] if (r["kind"], r["property"], r["engine"]) == (kind, p.id, engine)}
                t.add_row(kind, p.id, *[cells.get(n, "") for n in ns])
        out.print(t)
    t = Table(title="proofs for every N", show_edge=False)
    for col in ("kind", "property", "status", "seconds", "lemmas", "note"):
        t.add_column(col)
    for r in data["all_n"]:
        t.add_row(r["kind"], r["property"], r["status"], str(r["seconds"]), str(len(r["lemmas"])), r["note"][:90])
    out.print(t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-n", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per proof or BMC run")
    ap.add_argument("--pure-max-n", type=int, default=3, help="largest N for Spacer without lemmas")
    ap.add_argument("--pure-timeout", type=float, default=60.0)
    ap.add_argument("--bmc-budget", type=float, default=60.0, help="seconds of BMC unrolling per configuration")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_z3.json"))
    ap.add_argument("--only", choices=SECTIONS, action="append",
                    help="run only these sections and update them in the existing JSON file (repeatable)")
    args = ap.parse_args()
    out = Console(width=200)
    t0 = time.perf_counter()
    wanted = set(args.only or SECTIONS)
    data: dict = {}
    if args.only and os.path.exists(args.json):
        with open(args.json) as f:
            data = json.load(f)
    data.update({"schema": "dmabuf-check bench_z3 v1", "z3": z3.get_version_string(),
                 "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()})
    if "bmc" in wanted:
        out.print("BMC speed ...")
        data["bmc_speed"] = bmc_speed(args.max_n, args.bmc_budget)
    if "bugs" in wanted:
        out.print("BMC on the seeded bugs ...")
        data["bmc_bugs"] = bmc_bugs(args.max_n, args.timeout)
    old_fixed = data.get("fixed", [])
    if "fixed" in wanted:
        out.print("fixed-N proofs ...")
        old_fixed = [r for r in old_fixed if r["engine"] == "chc-pure"] + fixed_proofs(
            args.max_n, args.timeout, [("kind", True), ("chc", True)])
    if "pure" in wanted and args.pure_max_n:
        out.print("fixed-N proofs, Spacer without lemmas ...")
        old_fixed = [r for r in old_fixed if r["engine"] != "chc-pure"] + fixed_proofs(
            args.pure_max_n, args.pure_timeout, [("chc", False)])
    data["fixed"] = old_fixed
    if "alln" in wanted:
        out.print("proofs for every N ...")
        data["all_n"] = all_n_proofs(args.timeout)
    data["seconds_of_this_run"] = round(time.perf_counter() - t0, 1)
    print_tables(out, data)
    with open(args.json, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    out.print(f"wrote {args.json} ({data['seconds_of_this_run']} s for this run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
