"""``dmabuf-check list``: the built-in models, their variants and properties."""

from __future__ import annotations

import argparse

from dmabuf_check.cli import exitcodes, list_designs
from dmabuf_check.cli.options import console, listing
from dmabuf_check.registry import MODELS


def register(p: argparse.ArgumentParser) -> None:
    """The arguments of ``dmabuf-check list`` (its parser and one-line help: ``cli.main.COMMANDS``)."""
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
        listing(out, f"{e.name} seeded-bug variants (--variant)", ("variant", "name", "importers", "change", "violates"),
                [(key, v["name"], v["kind"], v["change"], v["property"]) for key, v in e.variants.items()])
        listing(out, f"{e.name} properties (--property)", ("id", "meaning", "kernel rule", "source"),
                [(p.id, p.meaning, ", ".join(p.rules), p.source) for p in e.properties])
    return exitcodes.OK


def list_rules(out) -> None:
    from dmabuf_check.properties import rulebook
    from dmabuf_check.properties.citations import all_citations, generations_for

    checked = {rid for c in all_citations() for rid in c.rules}
    rows = [(rid, r.section.split(".")[0], r.title, " ".join(r.tags),
             "yes" if rid in checked else ", ".join(generations_for(rid))) for rid, r in rulebook.rules().items()]
    listing(out, "kernel rules (dmabuf-check explain ID)",
            ("rule", "section", "rule (first sentence)", "versions", "checked / generation"), rows)
