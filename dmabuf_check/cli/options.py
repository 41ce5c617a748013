"""What every command shares: the argument parser, option types, the output console."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from dmabuf_check.cli import exitcodes


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
    if not x > 0 or x == float("inf"):  # nan fails the comparison; inf is no limit a solver or a clock can take
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text}")
    return x


def console(stderr: bool = False) -> Console:
    """A rich console; when output is not a terminal, wide enough that tables do not fold ids."""
    c = Console(stderr=stderr)
    return c if c.is_terminal else Console(stderr=stderr, width=160)
