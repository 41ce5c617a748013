"""``dmabuf-check locks MODEL``: the lock-order graph of a design, reported the way lockdep does."""

from __future__ import annotations

import argparse
import copy
import dataclasses
from typing import TYPE_CHECKING

from dmabuf_check.checker.explicit.search import INTERRUPTED, Limits
from dmabuf_check.cli import design_args, exitcodes
from dmabuf_check.cli.cmd_check import add_model_args, build_model, default_memory_limit_mb, write_json_atomic
from dmabuf_check.cli.options import add_progress_args, console, log_progress, positive_float, positive_int
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.base import DEADLOCK
from dmabuf_check.registry import entry

if TYPE_CHECKING:  # the lock-order engine is imported by run()
    from dmabuf_check.checker.locks.order import LockReport


def register(p: argparse.ArgumentParser) -> None:
    """The arguments of ``dmabuf-check locks`` (its parser and one-line help: ``cli.main.COMMANDS``)."""
    p.add_argument("model", help="a built-in model or design (see 'dmabuf-check list'), or a design file (.py)")
    add_model_args(p)
    design_args.add_args(p)
    p.add_argument("--rules", metavar="FILE", help="a TOML file with the driver's own locking rules")
    p.add_argument("--dot", metavar="FILE", help="write the graph as Graphviz DOT")
    p.add_argument("--svg", metavar="FILE", help="write the graph as a self-contained SVG")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--no-symmetry", action="store_true", help="explore every state, no importer symmetry reduction")
    p.add_argument("--larger", type=int, default=2, metavar="K",
                   help="for a cycle not reached here, also try up to K more importers (default 2; 0 to skip)")
    p.add_argument("--max-states", type=positive_int, metavar="N", help="stop after storing N states (exit 3)")
    p.add_argument("--time-limit", type=positive_float, metavar="S", help="stop after S seconds (exit 3)")
    add_progress_args(p, quiet="no progress lines",
                      every="a progress line on stderr every S seconds while exploring (default 10)")
    p.set_defaults(run=run, property=None, liveness=False)


def _build(args: argparse.Namespace):
    if design_args.wants_design(args):
        return design_args.build_design(args)
    e, model = build_model(args)
    return model, entry(args.model).properties


def run(args: argparse.Namespace) -> int:
    if args.larger < 0:
        raise ModelError(f"--larger must be 0 or more, got {args.larger}")
    from dmabuf_check.checker.locks.order import analyze
    from dmabuf_check.checker.locks.rules import load

    model, props = _build(args)
    rules = load(args.rules, model)  # a bad rules file is rejected before any search
    from dmabuf_check.traces.format import check_writable

    for flag, path in (("--json", args.json), ("--dot", args.dot), ("--svg", args.svg)):
        if path is not None:
            check_writable(flag, path)
    deadlock_props = [p for p in props if p.kind == DEADLOCK or "deadlock" in p.id]

    def bigger(n: int):
        a = copy.copy(args)
        a.importers, a.mix = n, None
        return _build(a)[0]

    can_grow = isinstance(model.params.get("importers"), int) and args.larger > 0 and not getattr(args, "mix", None)
    limits = Limits(args.max_states, args.time_limit, default_memory_limit_mb())
    report = analyze(model, deadlock_props, rules, symmetry=not args.no_symmetry, limits=limits,
                     bigger=bigger if can_grow else None, max_extra_importers=args.larger,
                     progress=None if args.quiet else log_progress(args.progress_every))
    from dmabuf_check.traces import lockdep, lockgraph  # rendering lives in traces/
    from dmabuf_check.traces.format import write_atomic

    out = console()
    out.print(lockdep.render(report), highlight=False, markup=False)
    if args.dot:
        write_atomic(args.dot, lockgraph.to_dot(report))
    if args.svg:
        write_atomic(args.svg, lockgraph.to_svg(report))
    if args.json:
        write_json_atomic(args.json, to_json(report))
    if not report.complete:
        out.print(f"incomplete: {report.stop_reason}; the graph covers only the explored states", markup=False)
        return exitcodes.INTERRUPTED if report.stop_reason == INTERRUPTED else exitcodes.LIMIT
    return exitcodes.OK if report.clean else exitcodes.VIOLATED


def to_json(report: LockReport) -> dict[str, object]:
    d = dataclasses.asdict(report)
    d["schema"] = "dmabuf-check locks v1"
    d["clean"] = report.clean
    return d
