"""``dmabuf-check check DESIGN``: the design side of the check command.

DESIGN is a built-in design or seeded bug by name, or a design file
(``path/to/design.py``); ``--kernel`` picks the protocol generation (the
design's own by default), ``--mix`` / ``--importers`` the importers,
``--buffers`` the number of buffers. Every problem with the design or the
options is a ModelError: one line, exit 2.
"""

from __future__ import annotations

import argparse

from dmabuf_check.model.lang import Model
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.base import LIVENESS, Property
from dmabuf_check.registry import build, is_design, resolve, select_design


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernel", metavar="PROFILE",
                   help="protocol generation for a design: rfc2011, v3.3, v5.7, v5.8, v5.9, v5.19, v6.2, v6.6, v6.16 "
                        "(default: the design's own, else the newest)")
    p.add_argument("--mix", metavar="KINDS", help="importer mix for a design, e.g. static=1,dynamic=2")
    p.add_argument("--buffers", type=int, metavar="B", help="number of buffers for a design (1 or 2)")
    p.add_argument("--config", metavar="OPT=y|n",
                   help="kernel config options that change the protocol, e.g. DMABUF_MOVE_NOTIFY=y "
                        "(default: the generation's Kconfig default, n for DMABUF_MOVE_NOTIFY)")


def wants_design(args: argparse.Namespace) -> bool:
    return is_design(args.model)


def build_design(args: argparse.Namespace) -> tuple[Model, tuple[Property, ...]]:
    if getattr(args, "variant", None):
        raise ModelError("--variant applies to r1; a seeded bug of a design is a design of its own "
                         "(dmabuf-check list --bugs)")
    if getattr(args, "kind", None) is not None:
        raise ModelError("--kind applies to r1; a design's importers are chosen with --mix (e.g. --mix static=1,dynamic=2)")
    ref = resolve(args.model)
    liveness = getattr(args, "liveness", False)
    model, info, props = build(ref, args.kernel, mix=args.mix, importers=args.importers, buffers=args.buffers,
                               config=args.config, liveness=bool(liveness or args.property))
    if ref.is_program and (liveness or args.property):  # liveness needs the whole state graph: opt-in, as for r1
        from dmabuf_check.properties.kernel_objects import for_driver

        props = for_driver(model, info)
        if not liveness and not args.property:
            props = tuple(p for p in props if p.kind != LIVENESS)
    elif not liveness and not args.property:  # a model file's or a design's liveness: opt-in too
        props = tuple(p for p in props if p.kind != LIVENESS)
    return model, select_design(props, args.property, ref.name)


def builtin_model_options(args: argparse.Namespace, kinds: tuple[str, ...]) -> None:
    """The options of a built-in model (r1): --kind defaults to dynamic and must be one of its kinds; the
    design options are refused."""
    if args.kind is None:
        args.kind = "dynamic"
    if args.kind not in kinds:
        raise ModelError(f"--kind must be one of {', '.join(kinds)}, not {args.kind!r}")
    reject_design_options(args)


def reject_design_options(args: argparse.Namespace) -> None:
    for flag in ("kernel", "mix", "buffers", "config"):
        if getattr(args, flag, None) is not None:
            raise ModelError(f"--{flag} applies to designs, not to {args.model}")
