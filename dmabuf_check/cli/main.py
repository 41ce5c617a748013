"""Command line: ``dmabuf-check <command> ...``.

Each command lives in its own module exposing ``register(subparsers)`` and
``run(args) -> int``. Every error a user can cause becomes one line on stderr
and a distinct exit code (see ``exitcodes``), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from dmabuf_check.cli import exitcodes
from dmabuf_check.cli.options import FORMATS, Parser, set_format
from dmabuf_check.model.types import ModelError

COMMANDS = ["cmd_list", "cmd_check", "cmd_locks", "cmd_bench", "cmd_prove", "cmd_trace", "cmd_explain", "cmd_core"]


def build_parser() -> Parser:
    p = Parser(prog="dmabuf-check", description="Model checker for the Linux dma-buf sharing and fence protocol.")
    from dmabuf_check.traces.format import tool_version

    p.add_argument("--version", action="version", version=f"dmabuf-check {tool_version()}")
    fmt = {"choices": FORMATS, "metavar": "{rich,plain}",
           "help": "rich (the default: colour and live progress on a terminal) or plain: text for a mail or a "
                   "commit message (no colour, ASCII tables, lines wrapped to $COLUMNS or 72)"}
    p.add_argument("--format", default="rich", **fmt)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"dmabuf_check.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"dmabuf_check.cli.{name}":
                continue  # a command whose module is not part of this build
            raise
        mod.register(sub)
    _add_everywhere(sub, fmt)  # one grammar: --format before or after the command (and its subcommand)
    return p


def _add_everywhere(sub: argparse._SubParsersAction, fmt: dict) -> None:
    for cmd in sub.choices.values():
        nested = [a for a in cmd._actions if isinstance(a, argparse._SubParsersAction)]
        for n in nested:
            _add_everywhere(n, fmt)
        if not nested:
            cmd.add_argument("--format", default=argparse.SUPPRESS, **fmt)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what a checkpoint records of the command
    set_format(args.format)
    try:
        return int(args.run(args))
    except ModelError as e:
        sys.stderr.write(f"dmabuf-check: error: {e}\n")
        return exitcodes.USAGE
    except MemoryError:
        sys.stderr.write("dmabuf-check: error: out of memory (try --max-states or symmetry reduction)\n")
        return exitcodes.LIMIT
    except KeyboardInterrupt:
        sys.stderr.write("dmabuf-check: interrupted\n")
        return 130
    except BrokenPipeError:
        return exitcodes.OK
    except Exception as e:  # a defect of ours: one line and its own exit code, the traceback on request
        if exitcodes.is_interrupt(e):
            sys.stderr.write("dmabuf-check: interrupted\n")
            return exitcodes.INTERRUPTED
        if os.environ.get("DMABUF_CHECK_DEBUG"):
            raise
        sys.stderr.write(f"dmabuf-check: internal error: {type(e).__name__}: {e} (a bug in dmabuf-check; "
                         "DMABUF_CHECK_DEBUG=1 shows the traceback)\n")
        return exitcodes.INTERNAL


if __name__ == "__main__":
    sys.exit(main())
