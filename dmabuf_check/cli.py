"""Command line: ``dmabuf-check <command> ...``.

Each command lives in its own module exposing ``register(subparsers)`` and
``run(args) -> int``. Every error a user can cause becomes one line on stderr
and a distinct exit code (see ``exitcodes``), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rich.console import Console

from dmabuf_check import exitcodes
from model.types import ModelError

COMMANDS = ["cmd_list", "cmd_check", "cmd_locks", "cmd_bench", "cmd_prove", "cmd_trace"]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(exitcodes.USAGE)


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {n}")
    return n


def positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not x > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return x


def console(stderr: bool = False) -> Console:
    """A rich console; when output is not a terminal, wide enough that tables do not fold ids."""
    c = Console(stderr=stderr)
    return c if c.is_terminal else Console(stderr=stderr, width=160)


def build_parser() -> Parser:
    p = Parser(prog="dmabuf-check", description="Model checker for the Linux dma-buf sharing and fence protocol.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"dmabuf_check.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"dmabuf_check.{name}":
                continue  # a command whose module is not part of this build
            raise
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
