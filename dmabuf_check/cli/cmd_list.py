"""``dmabuf-check list``: the built-in models, their variants and properties."""

from __future__ import annotations

import argparse

from rich.table import Table

from dmabuf_check.cli import exitcodes, list_designs
from dmabuf_check.cli.options import console
from dmabuf_check.registry import MODELS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list models, seeded-bug variants and properties")
    list_designs.add_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = console()
    if list_designs.wanted(args):
        list_designs.run(args, out)
        return exitcodes.OK
    for e in MODELS.values():
        out.print(f"[bold]{e.name}[/bold]  {e.title}   kinds: {', '.join(e.kinds)}")
        vt = Table(title=f"{e.name} seeded-bug variants (--variant)", title_justify="left")
        for col in ("variant", "name", "importers", "change", "violates"):
            vt.add_column(col)
        for key, v in e.variants.items():
            vt.add_row(key, v["name"], v["kind"], v["change"], v["property"])
        out.print(vt)
        pt = Table(title=f"{e.name} properties (--property)", title_justify="left")
        for col in ("id", "meaning", "kernel rule", "source"):
            pt.add_column(col, overflow="fold")
        for p in e.properties:
            pt.add_row(p.id, p.meaning, ", ".join(p.rules), p.source)
        out.print(pt)
    return exitcodes.OK
