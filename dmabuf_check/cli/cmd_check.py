"""``dmabuf-check check MODEL``: explore a model and check its properties."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from typing import TYPE_CHECKING

from dmabuf_check.checker.api import check_model
from dmabuf_check.checker.explicit.search import INTERRUPTED, Limits
from dmabuf_check.checker.result import HOLDS, VIOLATED, CheckResult
from dmabuf_check.cli import design_args, exitcodes
from dmabuf_check.cli.options import (
    WIDE,
    add_progress_args,
    console,
    log_progress,
    positive_float,
    positive_int,
    progress_text,
    property_ids,
)
from dmabuf_check.model.types import ModelError
from dmabuf_check.registry import entry, select

if TYPE_CHECKING:
    from rich.console import Console


def register(p: argparse.ArgumentParser) -> None:
    """The arguments of ``dmabuf-check check`` (its parser and one-line help: ``cli.main.COMMANDS``)."""
    p.add_argument("model", help="a built-in model or design (see 'dmabuf-check list'), or a design file (.py)")
    add_model_args(p)
    design_args.add_args(p)
    p.add_argument("--property", action="extend", type=property_ids, metavar="ID[,ID...]",
                   help="check only this property (repeatable, or a comma-separated list)")
    p.add_argument("--liveness", action="store_true",
                   help="also check the liveness properties (fair lassos on the full state graph; small N)")
    p.add_argument("--no-symmetry", action="store_true", help="explore every state, no importer symmetry reduction")
    p.add_argument("--keep-going", action="store_true",
                   help="do not stop at the first violation: report every violated property with its own "
                        "shortest counterexample")
    p.add_argument("--max-states", type=positive_int, metavar="N", help="stop after storing N states (exit 3)")
    p.add_argument("--time-limit", type=positive_float, metavar="S", help="stop after S seconds (exit 3)")
    p.add_argument("--max-memory", type=positive_float, metavar="MIB",
                   help="stop when peak memory passes MIB (exit 3; default 80%% of physical memory)")
    p.add_argument("--checkpoint", metavar="DIR",
                   help="write a checkpoint of the search into DIR every --checkpoint-every seconds and when a "
                        "limit or Ctrl-C stops it (atomic: a killed run leaves the last whole one)")
    p.add_argument("--checkpoint-every", type=positive_float, default=300.0, metavar="S",
                   help="seconds between checkpoints (default 300)")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the search from DIR's checkpoint (same model and options), to the same result "
                        "as an uninterrupted run; goes on checkpointing into DIR unless --checkpoint names another")
    p.add_argument("--json", metavar="FILE", help="write the verdict as JSON (schema: docs/json-verdict.md)")
    p.add_argument("--trace-dir", metavar="DIR", help="save each counterexample as a trace file in DIR")
    p.add_argument("--sarif", metavar="FILE", help="write a SARIF 2.1.0 log (one result per violated property)")
    p.add_argument("--sarif-root", metavar="DIR",
                   help="the repository root SARIF file URIs are relative to (SRCROOT; default: the working directory)")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testcase per property)")
    p.add_argument("--calls", action="store_true", help="also print each counterexample as per-thread kernel API calls")
    add_progress_args(p, quiet="no progress display",
                      every="when stderr is not a terminal (a CI log), a progress line every S seconds (default 10)")
    p.set_defaults(run=run)


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--importers", "-n", type=positive_int, metavar="N",
                   help="number of importers (default 3; a design's own mix for designs)")
    p.add_argument("--kind", help="r1: static or dynamic importers (default dynamic); a design takes --mix")
    p.add_argument("--variant", metavar="B", help="a seeded-bug variant, e.g. B4 or signal-takes-lock")


def build_model(args: argparse.Namespace):
    e = entry(args.model)
    design_args.builtin_model_options(args, e.kinds)
    model = e.build(importers=args.importers if args.importers is not None else 3, kind=args.kind,
                    variant=args.variant)
    return e, model


def write_json_atomic(path: str, data: object) -> None:
    """Write ``data`` as JSON through a temporary file, so a crash never leaves half a file."""
    from dmabuf_check.traces.format import write_atomic

    write_atomic(path, json.dumps(data, indent=1, default=str) + "\n")



def run(args: argparse.Namespace) -> int:
    if design_args.wants_design(args):
        model, props = design_args.build_design(args)
    else:
        e, model = build_model(args)
        props = select(e, args.property, args.liveness)
    for flag, path in (("--json", args.json), ("--sarif", args.sarif), ("--junit", args.junit)):
        if path is not None:  # fail on an unwritable path now, not after an hour of search
            from dmabuf_check.traces.format import check_writable

            check_writable(flag, path)
    if args.trace_dir is not None:
        from dmabuf_check.traces.format import check_writable

        check_writable("--trace-dir", args.trace_dir, directory=True)
    if args.sarif_root is not None:
        if args.sarif is None:
            raise ModelError("--sarif-root applies to the --sarif log; give --sarif FILE too")
        if not os.path.isdir(args.sarif_root):
            raise ModelError(f"--sarif-root {args.sarif_root}: not a directory")
    plan, resume = _checkpointing(args)
    err = console(stderr=True)
    to_stdout = [flag for flag, path in (("--json", args.json), ("--sarif", args.sarif), ("--junit", args.junit))
                 if path == "-"]
    if len(to_stdout) > 1:
        raise ModelError(f"{' and '.join(to_stdout)} both write to standard output ('-'); give one a file")
    out = console(stderr=bool(to_stdout))  # the machine-readable file owns stdout: the report goes to stderr
    limits = Limits(args.max_states, args.time_limit, args.max_memory or default_memory_limit_mb())
    show = not args.quiet and err.is_terminal
    kw = dict(symmetry=not args.no_symmetry, stop_at_first=not args.keep_going, limits=limits,
              checkpoint_plan=plan, resume=resume)
    if show:
        from rich.live import Live
        from rich.text import Text

        with Live(Text("compiling model ..."), console=err, refresh_per_second=4, transient=True) as live:
            result = check_model(model, props, progress=lambda p: live.update(Text(progress_text(p))),
                                 phase=lambda t: live.console.print(f"dmabuf-check: {t}"), **kw)
    else:
        result = check_model(model, props, progress=None if args.quiet else log_progress(args.progress_every),
                             phase=None if args.quiet else _log_phase, **kw)
    if plan is not None and not result.complete and result.stop_reason.startswith(("time", "state", "memory",
                                                                                 INTERRUPTED)):
        sys.stderr.write(f"dmabuf-check: checkpoint written to {plan.directory}; continue with the same command "
                         f"and --resume {plan.directory}\n")
    print_result(out, result, model, calls=args.calls, props=props)
    write_ci_outputs(args, result, model)
    return exit_code(result)


def _checkpointing(args: argparse.Namespace):
    """--checkpoint and --resume: the plan for writing checkpoints and the snapshot to continue from, both
    refused in one line (exit 2) before any search when unusable."""
    from dmabuf_check.checker.explicit import checkpoint
    from dmabuf_check.checker.explicit.search import CheckpointPlan

    resume = None
    if args.resume is not None:
        if args.liveness:
            raise checkpoint.CheckpointError("--resume: a check with --liveness is not resumed (its second "
                                             "search needs the whole state graph); resume the safety check alone")
        resume = checkpoint.load(args.resume)
    target = args.checkpoint if args.checkpoint is not None else args.resume
    if target is None:
        return None, resume
    checkpoint.prepare(target)
    command = " ".join(shlex.quote(a) for a in ["dmabuf-check", *getattr(args, "argv", [])])
    return CheckpointPlan(str(target), args.checkpoint_every, command), resume


def _log_phase(text: str) -> None:
    sys.stderr.write(f"dmabuf-check: {text}\n")
    sys.stderr.flush()


def write_ci_outputs(args: argparse.Namespace, result: CheckResult, model) -> None:
    """--trace-dir, --json, --sarif, --junit (traces.ci_outputs; imported only when asked for)."""
    if not (args.json or args.trace_dir or args.sarif or args.junit):
        return
    from dmabuf_check.traces import ci_outputs

    paths = ci_outputs.save_counterexamples_by_property(result, args.trace_dir, model) if args.trace_dir else {}
    if args.json:
        ci_outputs.write_json_verdict(args.json, result, paths, model)
    if args.sarif:
        ci_outputs.write_sarif(args.sarif, result, paths, model, getattr(args, "sarif_root", None))
    if args.junit:
        ci_outputs.write_junit(args.junit, result, paths, model)


def default_memory_limit_mb() -> float | None:
    """80% of physical memory: stop cleanly with partial figures instead of being killed."""
    try:
        return 0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return None


def exit_code(result: CheckResult) -> int:
    if result.violated:
        return exitcodes.VIOLATED
    if result.stop_reason == INTERRUPTED:
        return exitcodes.INTERRUPTED
    if not result.complete:
        return exitcodes.LIMIT
    return exitcodes.OK


def _may_be_dead(model, vacuous: list[str]) -> set[str]:
    """A driver program's steps a correct program may never take (a release inlined at a put that is not the
    last, a shrinker run inside an allocation, a call's branch for an object its variable never holds): not
    vacuous."""
    if model is None or "driver" not in model.params:
        return set()
    from dmabuf_check.model.driver.compile import info_of

    try:
        return info_of(model).may_be_dead(vacuous)
    except ModelError:
        return set()


def _lock_order_cycle(model) -> list[str] | None:
    """For a driver program, a cycle of lock classes in its calls' static locksets: the hint that ``locks``
    has a report (it decides which edges a run reaches)."""
    if model is None or "driver" not in model.params:
        return None
    from dmabuf_check.checker.locks.order import static_cycle

    return static_cycle(model)


def _vacuous_lines(model, vacuous: list[str]) -> tuple[list[str] | None, set[str]]:
    """A driver program's steps that never ran, as the author's lines ("file:line: call"), apart from the
    steps of the library's own objects (a chain's irq_work nobody waited for, close()'s empty branch), which
    name their threads. None for a model that is not a driver program."""
    if model is None or "driver" not in model.params:
        return None, set()
    import os

    import dmabuf_check
    from dmabuf_check.model.driver.compile import info_of

    try:
        where = info_of(model).where
    except ModelError:
        return None, set()
    roots = {os.path.dirname(os.path.abspath(p)) for p in
             (dmabuf_check.__file__, info_of.__code__.co_filename)}
    roots |= {os.path.dirname(r) for r in roots}
    acts = {a.name: a for a in model.actions}
    never = set(vacuous)
    # a line inlined at several call sites (an op, a helper) ran if it ran at any of them
    ran = {tuple(w) for a, w in where.items() if a not in never}
    lines: dict[str, None] = {}
    internal: set[str] = set()
    for name in vacuous:
        at = where.get(name)
        if at is not None and tuple(at) in ran:
            continue
        act = acts.get(name)
        text = getattr(act, "kernel", "") or name
        path = os.path.abspath(at[0]) if at else ""
        if at is None or any(path.startswith(r + os.sep) for r in roots if r not in ("", os.sep)) \
                and "designs" + os.sep not in path:
            internal.add(getattr(act, "actor", "") or name)
        else:
            lines[f"{os.path.basename(at[0])}:{at[1]}: {text}"] = None
    return list(lines), internal


def print_result(out: Console, r: CheckResult, model=None, calls: bool = False, props=None) -> None:
    params = ", ".join(f"{k}={v}" for k, v in r.params.items() if v is not None)
    out.print(f"[bold]{r.model}[/bold] ({params})  engine {r.engine}, "
              f"symmetry {'on (exact orbits)' if r.symmetry else 'off'}")
    stats = (f"{r.states:,} states, {r.transitions:,} transitions, depth {r.depth}, "
             f"{r.seconds:.2f} s explore + {r.compile_seconds:.2f} s compile, {r.states_per_second:,.0f} states/s, "
             f"peak memory {r.peak_memory_mb:,.0f} MiB")
    out.print(stats)
    if not r.complete:
        out.print(f"[yellow]incomplete: {r.stop_reason}; figures above are partial[/yellow]")
    from rich.table import Table

    t = Table(show_edge=False)
    notes_below = out.width < WIDE  # a narrow note column would fold each note into a word per line
    for col in ("property", "verdict", "steps", "kernel rule", "note"):
        if not (col == "note" and notes_below):
            t.add_column(col, no_wrap=col != "note")
    style = {HOLDS: "green", VIOLATED: "bold red"}
    for v in r.verdicts:
        t.add_row(v.property, f"[{style.get(v.status, 'yellow')}]{v.status}[/]",
                  str(v.counterexample.length) if v.counterexample else "", ", ".join(v.rules),
                  *(() if notes_below else (v.note,)))
    out.print(t)
    if notes_below:
        for v in r.verdicts:
            if v.note:
                out.print(f"  note: {v.property}: {v.note}", highlight=False)
    dead = _may_be_dead(model, r.vacuous)
    vacuous = [a for a in r.vacuous if a not in dead]
    if vacuous:
        lines, internal = _vacuous_lines(model, vacuous)
        if lines is None:
            out.print(f"[yellow]vacuous: these action instances never fired: {', '.join(vacuous)}[/yellow]")
        else:
            for line in lines:
                out.print(f"[yellow]vacuous: never reached: {line}[/yellow]", highlight=False)
            if internal:
                out.print(f"[yellow]not exercised: {len(internal)} thread(s) of the kernel objects' own code "
                          f"({', '.join(sorted(internal))})[/yellow]", highlight=False)
    cycle = _lock_order_cycle(model)
    if cycle:
        out.print(f"[yellow]lock order: the calls take {' -> '.join(cycle)}; lockdep reports such a cycle once both "
                  "orders run, deadlock or not: `dmabuf-check locks` on this design decides, with the "
                  "scenario[/yellow]", highlight=False)
    for v in r.violated:
        cex = v.counterexample
        assert cex is not None
        kind = "a lasso of" if cex.loop is not None else "after"
        out.print(f"\n[bold red]{v.property} violated[/bold red] {kind} {cex.length} steps ({', '.join(v.rules)}):")
        if model is not None:
            from dmabuf_check.traces.evaluate import from_counterexample  # rendering lives in traces/
            from dmabuf_check.traces.render_terminal import render

            render(from_counterexample(cex, model, engine=r.engine, properties=props), out, calls=calls)
    if r.ok:
        out.print(f"[green]all {len(r.verdicts)} properties hold ({r.states:,} states)[/green]")
