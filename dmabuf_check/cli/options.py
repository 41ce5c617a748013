"""What every command shares: the argument parser, option types, the output console."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console

from dmabuf_check.cli import exitcodes

if TYPE_CHECKING:  # the explorer is imported only by the commands that run it
    from dmabuf_check.checker.explicit.search import Progress


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


def property_ids(text: str) -> list[str]:
    """``--property`` takes one id or a comma-separated list, in every command (an option never swallows the
    model name that follows it)."""
    ids = [t.strip() for t in text.split(",")]
    if not all(ids):
        raise argparse.ArgumentTypeError(f"expected property ids separated by commas, got {text!r}")
    return ids


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


class PipeConsole(Console):
    """A rich console that a closed pipe does not kill: ``dmabuf-check check ... | head -1`` keeps the
    command's own exit code (rich's default raises SystemExit(1), which CI reads as a found bug); the rest of
    the output goes to /dev/null."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, (sys.stderr if self.stderr else sys.stdout).fileno())
        finally:
            os.close(devnull)


# the columns of a table that hold names a user greps for or pastes: never folded, whatever the width
ID_COLUMNS = ("id", "rule", "variant", "name", "violates", "design", "bug", "base", "caught by", "property")
WIDE = 120  # narrower than this, a verdict table's notes go below it, one line each, so nothing is cut


def output_width() -> int:
    """The width of output that is not a terminal: $COLUMNS (set it to 72 for a mail), else 160."""
    try:
        width = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        width = 0
    return width if width >= 40 else 160  # unset: wide enough that verdict tables keep their notes


def console(stderr: bool = False) -> Console:
    """A rich console; when output is not a terminal: as wide as $COLUMNS says (else 160), no colour codes,
    no trailing blanks."""
    c = PipeConsole(stderr=stderr)
    if c.is_terminal:
        return c
    stream = sys.stderr if stderr else sys.stdout
    return PipeConsole(file=_StripTrailing(stream), width=output_width(), color_system=None, stderr=stderr)


def add_progress_args(p: argparse.ArgumentParser, *, quiet: str, every: str) -> None:
    """--quiet and --progress-every, shared by the commands that explore a state space."""
    p.add_argument("--quiet", action="store_true", help=quiet)
    p.add_argument("--progress-every", type=positive_float, default=10.0, metavar="S", help=every)


def progress_text(p: Progress) -> str:
    rate = p.states / p.seconds if p.seconds > 0 else 0.0
    return (f"states {p.states:,}  ({rate:,.0f}/s)  depth {p.depth}  frontier {p.frontier:,}  "
            f"memory {p.memory_mb:,.0f} MiB  {p.seconds:.1f} s")


def log_progress(every: float) -> Callable[[Progress], None]:
    """Progress for a log file (SPIN and Rumur print a line every so many states): one plain line on stderr
    at most every ``every`` seconds, flushed, so a CI log shows the run is alive."""
    last = [0.0]

    def report(p: Progress) -> None:
        if p.seconds - last[0] >= every:
            last[0] = p.seconds
            sys.stderr.write(f"dmabuf-check: {progress_text(p)}\n")
            sys.stderr.flush()
    return report
