"""``dmabuf-check prove MODEL``: prove or refute properties with z3.

For a fixed number of importers the engines are BMC (shortest counterexample
up to ``--depth``), k-induction and Spacer (unbounded proofs, strengthened by
Houdini lemmas unless ``--no-lemmas``). ``--all-n`` proves a property for
every number of importers at once. A proof prints its certificate (the
inductive invariant in the model's own names, re-checked by an independent
query), a violation its counterexample, a failed induction its
counterexample to induction. Exit codes: 0 every property proved, 1 a
violation, 2 bad input, 3 a limit reached or an unknown from the solver.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from dmabuf_check.checker.z3.proof import CTI, PROVED, VIOLATED, ProofResult
from dmabuf_check.cli import design_args, exitcodes
from dmabuf_check.cli.options import WIDE, add_progress_args, console, positive_float, positive_int, property_ids
from dmabuf_check.cli.z3_interrupt import interruptible
from dmabuf_check.model.expr import Expr
from dmabuf_check.model.lang import Model
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.base import LIVENESS, Property
from dmabuf_check.registry import MODELS, entry, select

if TYPE_CHECKING:
    from rich.console import Console

MAX_CERT_LINES = 40
# checker.z3.prove.ENGINES, spelled here so that building the parser does not import z3 (the engines import it
# when a proof starts); tests/test_startup.py checks that the two agree
ENGINES = ("bmc", "kind", "chc")


def register(p: argparse.ArgumentParser) -> None:
    """The arguments of ``dmabuf-check prove`` (its parser and one-line help: ``cli.main.COMMANDS``)."""
    p.add_argument("model", help="a built-in model (see 'dmabuf-check list'); designs with a fixed --importers")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--importers", "-n", type=positive_int, metavar="N", help="number of importers (default 3)")
    size.add_argument("--all-n", action="store_true", help="prove for every number of importers")
    p.add_argument("--kind", help="r1: static or dynamic importers (default dynamic); a design takes --mix")
    p.add_argument("--variant", metavar="B", help="a seeded-bug variant, e.g. B4 or signal-takes-lock")
    design_args.add_args(p)
    p.add_argument("--engine", choices=ENGINES, help="bmc, kind (k-induction, default) or chc (Spacer)")
    p.add_argument("--depth", type=positive_int, default=40, metavar="K",
                   help="BMC depth / largest k for k-induction (default 40)")
    p.add_argument("--timeout", type=positive_float, default=300.0, metavar="S",
                   help="seconds per property, every solver call included (default 300; exit 3 when reached)")
    p.add_argument("--property", action="extend", type=property_ids, metavar="ID[,ID...]",
                   help="prove only this property (repeatable, or a comma-separated list)")
    p.add_argument("--no-lemmas", action="store_true",
                   help="no Houdini strengthening: the engines (or --all-n) work on the property alone")
    p.add_argument("--lemmas", metavar="FILE",
                   help="a Python file defining lemmas(model) -> list of model expressions, extra candidate lemmas")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    add_progress_args(p, quiet="no progress display",
                      every="when stderr is not a terminal (a CI log), a line every S seconds naming the property "
                            "and the engine's step (default 10)")
    p.set_defaults(run=run)


def load_lemmas(path: str) -> Callable[[Model], Sequence[Expr]]:
    """The ``lemmas(model)`` function of a user file; every problem is a ModelError."""
    if not os.path.isfile(path):
        raise ModelError(f"--lemmas: no such file {path}")
    spec = importlib.util.spec_from_file_location("dmabuf_check_user_lemmas", path)
    if spec is None or spec.loader is None:
        raise ModelError(f"--lemmas: cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as e:  # a user file: any error it raises is bad input
        raise ModelError(f"--lemmas: {path} fails to load: {e}") from None
    fn = getattr(mod, "lemmas", None)
    if not callable(fn):
        raise ModelError(f"--lemmas: {path} defines no function lemmas(model)")

    def call(model: Model) -> Sequence[Expr]:
        try:
            out = list(fn(model))
        except Exception as e:
            raise ModelError(f"--lemmas: lemmas(model) raised {e}") from None
        if not all(isinstance(x, Expr) for x in out):
            raise ModelError("--lemmas: lemmas(model) must return model expressions")
        return out

    return call


def _setup(args: argparse.Namespace) -> tuple[str, Callable[[int], Model] | None, Model | None,
                                              tuple[Property, ...], tuple[Property, ...]]:
    """(title, build(n) or None, the fixed model or None for --all-n, selected properties, the catalog).

    ``build`` makes the model at other sizes (candidate lemmas are filtered on
    small ones, --all-n needs it); a design is proved at its own size only.
    """
    if args.all_n and args.engine:
        raise ModelError("--all-n has its own engine (induction for every N); drop --engine")
    build: Callable[[int], Model] | None = None
    if args.model in MODELS:
        e = entry(args.model)
        design_args.builtin_model_options(args, e.kinds)
        e.build(importers=1, kind=args.kind, variant=args.variant)  # bad --variant/--kind: fail now

        def build(n: int) -> Model:  # the built-in model at any size
            return e.build(importers=n, kind=args.kind, variant=args.variant)

        catalog = e.properties
        props = select(e, args.property)
        model = None if args.all_n else build(args.importers or 3)
        title = f"{args.model} ({args.kind}{', ' + args.variant if args.variant else ''})"
    elif design_args.wants_design(args):
        if args.all_n:
            raise ModelError("--all-n applies to the built-in models; prove a design with --importers N")
        model, props = design_args.build_design(args)
        catalog = props
        title = args.model
    else:
        entry(args.model)  # raises the unknown-model error
        raise ModelError(f"cannot prove {args.model}")
    for p in props:
        if p.kind == LIVENESS:
            raise ModelError(f"{p.id} is a liveness property: 'dmabuf-check check --liveness' decides it; "
                             "prove handles invariants and deadlock freedom")
    props = tuple(p for p in props if p.kind != LIVENESS)
    return title, build, model, props, tuple(p for p in catalog if p.kind != LIVENESS)


def run(args: argparse.Namespace) -> int:
    title, build, model, props, catalog = _setup(args)
    user = load_lemmas(args.lemmas) if args.lemmas else None
    if args.json is not None:
        from dmabuf_check.traces.format import check_writable

        check_writable("--json", args.json)
    err = console(stderr=True)
    out = console()
    members = None if model is None else next((v.index.size for v in model.variables if v.index is not None), 0)
    size = "every N" if model is None else f"N={members}"
    engine = "all-n" if model is None else (args.engine or "kind")
    out.print(f"[bold]{title}[/bold], {size}, engine {engine}"
              f"{'' if args.no_lemmas or engine == 'bmc' else ' + Houdini lemmas'}, timeout {args.timeout:g} s")
    results: list[ProofResult] = []
    show = not args.quiet and err.is_terminal
    previous = signal.signal(signal.SIGINT, _on_sigint) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        with interruptible(lambda: _INTERRUPTED.append(True)):
            _prove_each(args, props, model, build, catalog, user, engine, show, err, results)
    except BaseException as e:
        # Ctrl-C: what was decided so far is kept (a query z3 cancelled for it may end in a Z3Exception)
        if not (_INTERRUPTED or exitcodes.is_interrupt(e)):
            raise
        print_results(out, results)
        out.print(f"interrupted after {len(results)} of {len(props)} properties")
        _write_json(args, title, model, results)
        return exitcodes.INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        _INTERRUPTED.clear()
    print_results(out, results)
    return _after(args, title, model, props, catalog, engine, out, results)


def _prove_each(args: argparse.Namespace, props, model, build, catalog, user, engine: str, show: bool, err: Console,
                results: list[ProofResult]) -> None:
    """Prove the properties one after the other, appending each result as it is decided."""
    from rich.live import Live
    from rich.text import Text

    from dmabuf_check.checker.z3.alln import prove_all_n
    from dmabuf_check.checker.z3.prove import Options, Reuse, prove_fixed

    reuse = Reuse(model) if model is not None else None  # encoding, candidates, Houdini: once for every property
    for p in props:
        with Live(Text(f"{p.id}: starting"), console=err, refresh_per_second=4, transient=True) if show \
                else _LogLive(None if args.quiet else args.progress_every) as live:
            def say(text: str, pid: str = p.id) -> None:
                _check_interrupt()
                live.update(Text(f"{pid}: {text}"))
            if model is None:
                assert build is not None
                r = prove_all_n(build, p, catalog, timeout=args.timeout, user_lemmas=user, lemmas=not args.no_lemmas,
                                progress=say)
            else:
                opts = Options(engine=engine, depth=args.depth, timeout=args.timeout, lemmas=not args.no_lemmas,
                               properties=catalog, build=build, user_lemmas=user)
                r = prove_fixed(model, p, opts, progress=say, reuse=reuse)
        results.append(r)
        if not show and not args.quiet:
            err.print(f"{p.id}: {r.status} ({r.seconds:.1f} s)")
        _check_interrupt()


_INTERRUPTED: list[bool] = []


def _on_sigint(_signum: int, _frame: object) -> None:
    """Ctrl-C: remember it, then raise. A KeyboardInterrupt raised inside a z3 object's __del__ is only
    printed by Python and lost; the flag makes the next progress report or property boundary raise it."""
    _INTERRUPTED.append(True)
    raise KeyboardInterrupt


def _check_interrupt() -> None:
    if _INTERRUPTED:
        raise KeyboardInterrupt


def _write_json(args: argparse.Namespace, title: str, model, results: Sequence[ProofResult]) -> None:
    if args.json:
        from dmabuf_check.cli.cmd_check import write_json_atomic

        write_json_atomic(args.json, {"schema": "dmabuf-check proof v1", "model": args.model, "title": title,
                                      "importers": "all" if model is None else model.params.get("importers"),
                                      "results": [r.to_json() for r in results]})


def _after(args: argparse.Namespace, title: str, model, props, catalog, engine: str, out: Console,
           results: list[ProofResult]) -> int:
    if model is not None and any(p.id == "no-fence-wait-deadlock" for p in props):
        from dmabuf_check.checker.z3.deadlock import deadlock_reachability

        cycles, summary = deadlock_reachability(model, engine="chc" if engine == "chc" else "kind",
                                                depth=args.depth, timeout=args.timeout, properties=catalog)
        out.print(f"\n[bold]wait-for cycles[/bold]: {summary}")
        for v in cycles:
            out.print(f"  {v.cycle}: {v.note}")
    _write_json(args, title, model, results)
    return exit_code(results)


class _LogLive:
    """The Live display of a log: the engine's latest step as one plain line on stderr every ``every``
    seconds (never with --quiet), so a CI log of a long proof shows it is alive. A thread writes it: one
    solver call can take minutes without a progress report (ctypes lets the thread run meanwhile)."""

    def __init__(self, every: float | None) -> None:
        self.every, self.text, self.t0 = every, "starting", time.monotonic()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> _LogLive:
        if self.every is not None:
            self.thread = threading.Thread(target=self._beat, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()

    def update(self, text: object) -> None:
        self.text = str(text)

    def _beat(self) -> None:
        assert self.every is not None
        while not self.done.wait(self.every):
            sys.stderr.write(f"dmabuf-check: {self.text} ({time.monotonic() - self.t0:.1f} s)\n")
            sys.stderr.flush()


def exit_code(results: Sequence[ProofResult]) -> int:
    if any(r.status == VIOLATED for r in results):
        return exitcodes.VIOLATED
    if all(r.status == PROVED for r in results):
        return exitcodes.OK
    if all(r.status == PROVED or r.outside for r in results):
        return exitcodes.OUTSIDE  # not a limit: more time would not help; prove those for a fixed N
    return exitcodes.LIMIT


def print_results(out: Console, results: Sequence[ProofResult]) -> None:
    from rich.table import Table

    t = Table(show_edge=False)
    notes_below = out.width < WIDE  # a narrow note column would fold each note into a word per line
    for col in ("property", "verdict", "engine", "depth/k", "seconds", "note"):
        if not (col == "note" and notes_below):
            t.add_column(col, no_wrap=col != "note")
    style = {PROVED: "green", VIOLATED: "bold red"}
    for r in results:
        t.add_row(r.property, f"[{style.get(r.status, 'yellow')}]{r.status}[/]", r.engine, str(r.depth),
                  f"{r.seconds:.1f}", *(() if notes_below else (r.note,)))
    out.print(t)
    if notes_below:
        for r in results:
            if r.note:
                out.print(f"  note: {r.property}: {r.note}", highlight=False)
    for r in results:
        if r.certificate is not None and r.status == PROVED:
            c = r.certificate
            how = f"{c.kind}" + (f", k={c.k}" if c.kind == "k-inductive" else "")
            out.print(f"\n[bold green]{r.property} proved[/bold green] ({how}; independently re-checked in "
                      f"{c.check_seconds:.2f} s: {', '.join(c.obligations)})")
            out.print("  invariant I =")
            for line in c.invariant[:MAX_CERT_LINES]:
                out.print(f"    ∧ {line}", markup=False)
            if len(c.invariant) > MAX_CERT_LINES:
                out.print(f"    ... and {len(c.invariant) - MAX_CERT_LINES} more conjuncts (see --json)")
        if r.counterexample is not None:
            cex = r.counterexample
            out.print(f"\n[bold red]{r.property} violated[/bold red] after {cex.length} steps:")
            for n, s in enumerate(cex.steps, 1):
                changed = ", ".join(f"{k}={v}" for k, v in s.changed.items())
                out.print(f"  {n:>3}. {s.actor:<22} {s.label:<18} {changed}", markup=False)
            if cex.detail:
                out.print(f"  wait-for cycle: {cex.detail}", markup=False)
        if r.cti is not None and r.status != VIOLATED:
            print_cti(out, r.property, r.cti)


def print_cti(out: Console, prop: str, cti: CTI) -> None:
    out.print(f"\n[yellow]{prop}: counterexample to induction[/yellow] with {cti.before.importers} "
              f"importer{'s' if cti.before.importers != 1 else ''} (the state before satisfies the property and "
              f"{len(cti.strengthening)} lemma{'s' if len(cti.strengthening) != 1 else ''}; it need not be reachable):")
    out.print(f"  before: {_state(cti.before.values)}", markup=False)
    out.print(f"  step:   {cti.action}", markup=False)
    changed = {k: v for k, v in cti.after.values.items() if cti.before.values.get(k) != v}
    out.print(f"  after:  {_state(changed)}  (the rest unchanged)", markup=False)


def _state(values: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
