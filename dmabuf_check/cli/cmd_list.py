"""``dmabuf-check list``: the built-in models, their variants and properties."""

from __future__ import annotations

import argparse

from rich.table import Table

from dmabuf_check.cli import exitcodes, list_designs
from dmabuf_check.cli.options import ID_COLUMNS, console
from dmabuf_check.registry import MODELS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list models, seeded-bug variants and properties")
    list_designs.add_args(p)
    p.add_argument("--rules", action="store_true",
                   help="list the kernel rules of the rule catalog (dmabuf-check explain ID prints one)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = console()
    if args.rules:
        list_rules(out)
        if not list_designs.wanted(args):
            return exitcodes.OK
    if list_designs.wanted(args):
        list_designs.run(args, out)
        return exitcodes.OK
    for e in MODELS.values():
        out.print(f"[bold]{e.name}[/bold]  {e.title}   kinds: {', '.join(e.kinds)}")
        vt = Table(title=f"{e.name} seeded-bug variants (--variant)", title_justify="left")
        for col in ("variant", "name", "importers", "change", "violates"):
            vt.add_column(col, overflow="fold", no_wrap=col in ID_COLUMNS)
        for key, v in e.variants.items():
            vt.add_row(key, v["name"], v["kind"], v["change"], v["property"])
        out.print(vt)
        pt = Table(title=f"{e.name} properties (--property)", title_justify="left")
        for col in ("id", "meaning", "kernel rule", "source"):
            pt.add_column(col, overflow="fold", no_wrap=col in ID_COLUMNS)
        for p in e.properties:
            pt.add_row(p.id, p.meaning, ", ".join(p.rules), p.source)
        out.print(pt)
    return exitcodes.OK


def list_rules(out) -> None:
    from dmabuf_check.properties import rulebook
    from dmabuf_check.properties.citations import all_citations, generations_for

    checked = {rid for c in all_citations() for rid in c.rules}
    t = Table(title="kernel rules (dmabuf-check explain ID)", title_justify="left")
    for col in ("rule", "section", "rule (first sentence)", "versions", "checked / generation"):
        t.add_column(col, overflow="fold", no_wrap=col in ID_COLUMNS)
    for rid, r in rulebook.rules().items():
        done = "yes" if rid in checked else ", ".join(generations_for(rid))
        t.add_row(rid, r.section.split(".")[0], r.title, " ".join(r.tags), done)
    out.print(t)
