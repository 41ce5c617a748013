"""What every command shares: the argument parser, option types, the output console."""

from __future__ import annotations

import argparse
import os
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


class _StripTrailing:
    """A text stream that drops trailing blanks from every line (rich pads table rows to the width):
    output piped into a mail or a commit message passes checkpatch."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.pending = ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.stream.write(line.rstrip(" ") + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.stream.write(self.pending.rstrip(" "))
            self.pending = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.stream.fileno()


def console(stderr: bool = False) -> Console:
    """A rich console; when output is not a terminal: as wide as $COLUMNS says (else 160, so tables do
    not fold ids), no colour codes, no trailing blanks."""
    c = Console(stderr=stderr)
    if c.is_terminal:
        return c
    try:
        width = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        width = 0
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=_StripTrailing(stream), width=width if width >= 40 else 160, color_system=None)
