"""``dmabuf-check list --designs / --bugs / --properties [--profile P]``: the design side of ``list``."""

from __future__ import annotations

import argparse

from rich.console import Console

from dmabuf_check.cli.options import listing
from dmabuf_check.model.profiles import DEFAULT, PROFILES, profile


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--designs", action="store_true", help="list the built-in exporter designs")
    p.add_argument("--bugs", action="store_true", help="list the seeded-bug designs with their kernel sources")
    p.add_argument("--properties", action="store_true",
                   help="list the rule catalog's properties that apply to a protocol generation")
    p.add_argument("--profile", metavar="PROFILE",
                   help=f"protocol generation for --properties ({', '.join(PROFILES)}; default {DEFAULT})")
    p.add_argument("--design", metavar="NAME",
                   help="print one design (built in, a seeded bug, or a design file) in its data form: a .toml "
                        "or .json design that checking never runs as code (--as)")
    p.add_argument("--as", dest="as_format", choices=("toml", "json"), default="toml",
                   help="the data form --design prints (default toml)")


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.designs or args.bugs or args.properties or args.profile or args.design)


def run(args: argparse.Namespace, out: Console) -> None:
    from dmabuf_check import registry
    from dmabuf_check.properties.catalog import applicable

    if args.design:
        import json
        import sys

        from dmabuf_check.model import design_data
        from dmabuf_check.model.design import Design
        from dmabuf_check.model.types import ModelError

        ref = registry.resolve(args.design)
        if not isinstance(ref.design, Design):
            raise ModelError(f"{args.design} is a driver program or a model, not a flag design: it has no data form")
        doc = design_data.to_data(ref.design, ref.bug)
        sys.stdout.write(design_data.dumps_toml(doc) if args.as_format == "toml" else json.dumps(doc, indent=1) + "\n")
        return

    if args.properties or args.profile:
        prof = profile(args.profile)
        listing(out, f"properties that apply under {prof.name}: {prof.title}", ("id", "meaning", "kernel rule", "source"),
                [(r.id, r.meaning, ", ".join(r.rules), r.source) for r in applicable(prof)])
    if args.designs:
        rows = []
        for name, ref in registry.builtin().items():
            d = ref.design
            if ref.is_program:  # a driver program names its threads instead of an importer mix
                threads = ", ".join(t.name for t in d.threads)
                rows.append((name, d.kernel, "program", f"threads: {threads}", d.follows))
                continue
            rows.append((name, d.kernel, ", ".join(d.kinds), ",".join(f"{k}={n}" for k, n in d.mix.items()),
                         d.follows))
        listing(out, "built-in designs (dmabuf-check check NAME)", ("design", "kernel", "kinds", "default mix", "follows"),
                rows)
    if args.bugs:
        rows = []
        for name, ref in registry.bugs().items():
            b = ref.bug
            assert b is not None
            change = b.change + (f" [--config {b.config}]" if b.config else "")
            rows.append((name, b.base, b.kind, change, f"{b.property} ({', '.join(b.rules)})", b.source))
        listing(out, "seeded bugs (dmabuf-check check NAME)", ("bug", "base", "class", "change", "caught by", "source"),
                rows)
