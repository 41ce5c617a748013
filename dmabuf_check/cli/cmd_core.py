"""``dmabuf-check core CHANGE.py``: check a proposed change of the dma-buf core against every driver program.

CHANGE.py defines ``CORE = {"dma_buf_fd": fn, ...}``: replacements of core calls, each ``fn(k, *args,
default, **kwargs)`` as ``Driver.core`` takes it (``default()`` runs the current core). Every built-in
driver program (the fixed versions of the seeded bugs: code paths known to be correct with today's
core), and any driver files given with ``--program``, is checked with the change applied; a program
the change breaks is reported with its first violated property and the call that breaks it.
"""

from __future__ import annotations

import argparse
import importlib

from rich.table import Table

from dmabuf_check.cli import exitcodes
from dmabuf_check.cli.options import WIDE, console


def register(p: argparse.ArgumentParser) -> None:
    """The arguments of ``dmabuf-check core`` (its parser and one-line help: ``cli.main.COMMANDS``)."""
    p.add_argument("change", help="a file defining CORE = {'dma_buf_fd': fn, ...}")
    p.add_argument("--program", action="append", metavar="FILE",
                   help="also check this driver file (DESIGN = Driver(...)); repeatable")
    p.add_argument("--kernel", metavar="PROFILE", help="protocol generation (default: each program's own)")
    p.set_defaults(run=run)


def _programs(extra: list[str]) -> list[tuple[str, object]]:
    from dmabuf_check.model import designs
    from dmabuf_check.model.design_loader import load_design_file
    from dmabuf_check.model.driver import Driver
    from dmabuf_check.model.types import ModelError

    out = []
    for m in designs.PROGRAMS:
        mod = importlib.import_module(f"dmabuf_check.model.designs.programs.{m}")
        out.append((mod.NAME, mod.make()))
    for path in extra:
        d, _bug, _mod = load_design_file(path)
        if not isinstance(d, Driver):
            raise ModelError(f"--program {path}: a core change applies to driver programs (DESIGN = Driver(...))")
        out.append((path, d))
    return out


def _culprit(model, info, verdict) -> str:
    """The call the violating state is about to make (the model here carries the change, so it is read from it
    rather than rebuilt from the registry)."""
    from dmabuf_check.model.pycompile import Compiled

    c = Compiled(model)
    cex = verdict.counterexample
    state = c.layout.encode(cex.steps[-1].state) if cex.steps else c.initial
    for n, (bad, text) in enumerate(info.checks.get(verdict.property, [])):
        if c.predicate(f"why_{n}", c.condition(bad, "why"))(state):
            return text
    return verdict.meaning


def run(args: argparse.Namespace) -> int:
    from dmabuf_check.checker.explicit.search import explore
    from dmabuf_check.model.design_loader import load_core_file
    from dmabuf_check.properties.base import LIVENESS
    from dmabuf_check.properties.kernel_objects import for_driver

    core = load_core_file(args.change)
    out = console()
    t = Table(title=f"core change {args.change}: {', '.join(core)}", title_justify="left", show_edge=False)
    below = out.width < WIDE  # a narrow table would fold the violation; it goes under the table, one line
    for col in ("program", "uses", "states", "verdict") + (() if below else ("first violation",)):
        t.add_column(col, overflow="fold", no_wrap=col == "program")
    broken = 0
    firsts: list[str] = []
    for name, driver in _programs(args.program or []):
        driver.core_calls.update(core)
        model, info = driver.build(args.kernel)
        uses = sorted(info.core_used)
        props = [p for p in for_driver(model, info) if p.kind != LIVENESS]
        r = explore(model, props, symmetry=False)
        if r.violated:
            broken += 1
            v = r.violated[0]
            first = f"{v.property} after {v.counterexample.length} steps: {_culprit(model, info, v)}"
            t.add_row(name, ", ".join(uses) or "-", f"{r.states:,}", "[bold red]violated[/]",
                      *(() if below else (first,)))
            firsts.append(f"  {name}: {first}")
        else:
            t.add_row(name, ", ".join(uses) or "-", f"{r.states:,}", "[green]holds[/]", *(() if below else ("",)))
    out.print(t)
    if below:
        for line in firsts:
            out.print(line, highlight=False)
    total = len(t.rows)
    out.print(f"{broken} of {total} driver programs broken by the change" if broken
              else f"[green]all {total} driver programs hold with the change[/green]")
    return exitcodes.VIOLATED if broken else exitcodes.OK
