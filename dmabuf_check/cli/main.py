"""Command line: ``dmabuf-check <command> ...``.

Each command lives in its own module exposing ``register(parser)`` and
``run(args) -> int``; ``COMMANDS`` names it with its one-line help, and only the
module of the command given is imported (start-up time is most of a small
check's time to verdict). Every error a user can cause becomes one line on stderr
and a distinct exit code (see ``exitcodes``), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from dmabuf_check.cli import exitcodes
from dmabuf_check.cli.options import FORMATS, Parser, set_format
from dmabuf_check.model.types import ModelError

# (command, its module in dmabuf_check.cli, its line in --help), in the order --help lists them
COMMANDS = [
    ("list", "cmd_list", "list models, seeded-bug variants and properties"),
    ("check", "cmd_check", "explore a model exhaustively and check its properties"),
    ("locks", "cmd_locks", "lock-order graph and lockdep-style cycle reports of a model or design"),
    ("bench", "cmd_bench", "benchmark R1: both kinds, N = 1..6, with and without symmetry"),
    ("prove", "cmd_prove", "prove properties with z3 (BMC, k-induction, Spacer; for every N with --all-n)"),
    ("trace", "cmd_trace", "replay, show, shrink or export a counterexample trace file"),
    ("explain", "cmd_explain", "print the kernel rule behind a rule id, property id or catalog section"),
    ("core", "cmd_core", "check a proposed dma-buf core change against every driver program"),
]


def build_parser() -> Parser:
    p = Parser(prog="dmabuf-check", description="Model checker for the Linux dma-buf sharing and fence protocol.")
    p.add_argument("--version", action=_VersionAction)
    fmt = {"choices": FORMATS, "metavar": "{rich,plain}",
           "help": "rich (the default: colour and live progress on a terminal) or plain: text for a mail or a "
                   "commit message (no colour, ASCII tables, lines wrapped to $COLUMNS or 72)"}
    p.add_argument("--format", default="rich", **fmt)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, action=_Commands)
    sub.required = True
    for name, module, help_ in COMMANDS:
        if importlib.util.find_spec(f"dmabuf_check.cli.{module}") is None:
            continue  # a command whose module is not part of this build
        sub.add_command(name, module, help_, fmt)
    return p


class _Commands(argparse._SubParsersAction):
    """The subcommands: each one's parser is filled in by its module's ``register`` when the command line
    names it (its arguments, help and errors are then what an eagerly built parser gives), so running one
    command imports no other command's module (z3 for prove, the lock engine for locks, ...)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._unfilled: dict[str, tuple[str, dict]] = {}

    def add_command(self, name: str, module: str, help_: str, fmt: dict) -> None:
        self.add_parser(name, help=help_)
        self._unfilled[name] = (module, fmt)

    def fill(self, name: str) -> argparse.ArgumentParser:
        cmd = self._name_parser_map[name]
        if name in self._unfilled:
            module, fmt = self._unfilled.pop(name)
            importlib.import_module(f"dmabuf_check.cli.{module}").register(cmd)
            _add_everywhere(cmd, fmt)  # one grammar: --format before or after the command (and its subcommand)
        return cmd

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[override]
        if values and values[0] in self._unfilled:
            self.fill(values[0])
        super().__call__(parser, namespace, values, option_string)


class _VersionAction(argparse._VersionAction):
    """``--version``, its text read only when asked for (the package metadata costs start-up time)."""

    @property
    def version(self) -> str:
        from dmabuf_check.traces.format import tool_version

        return f"dmabuf-check {tool_version()}"

    @version.setter
    def version(self, _value: object) -> None:
        pass


def _add_everywhere(cmd: argparse.ArgumentParser, fmt: dict) -> None:
    nested = [a for a in cmd._actions if isinstance(a, argparse._SubParsersAction)]
    for n in nested:
        for sub in n.choices.values():
            _add_everywhere(sub, fmt)
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
