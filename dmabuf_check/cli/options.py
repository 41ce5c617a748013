"""What every command shares: the argument parser, option types, the output console."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

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


def listing(out: Console, title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A list of records: a table when the output is at least WIDE columns; narrower (a log, a mail, an
    80-column terminal) one record per block, its first column as a heading and each other field on its own
    indented line, wrapped at blanks only, so a name, a path or a commit id is never cut in two."""
    rows = [[str(v) for v in r] for r in rows]
    if out.width >= WIDE:
        from rich.table import Table

        t = Table(title=title, title_justify="left")
        for col in columns:
            t.add_column(col, overflow="fold", no_wrap=col in ID_COLUMNS)
        for r in rows:
            t.add_row(*r)
        out.print(t)
        return
    import textwrap

    key = max(len(c) for c in columns[1:]) + 2
    lines = [title]
    for r in rows:
        lines.append(r[0])
        for col, value in zip(columns[1:], r[1:]):
            if not value:
                continue
            wrapped = textwrap.wrap(value, max(20, out.width - key - 2), break_long_words=False,
                                    break_on_hyphens=False) or [""]
            lines.append(f"  {col:<{key}}{wrapped[0]}")
            lines.extend(f"  {'':<{key}}{w}" for w in wrapped[1:])
    out.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


FORMATS = ("rich", "plain")
_FORMAT = ["rich"]  # set once by main() from --format, read by every console the command makes


def set_format(name: str) -> None:
    """``--format plain``: text for a mail or a commit message, even on a terminal: no colour, no live
    display (progress lines instead), ASCII table borders, prose wrapped at blanks to $COLUMNS or 72."""
    _FORMAT[0] = name


def output_width(default: int = 80) -> int:
    """The width of output that is not a terminal: $COLUMNS (set it to 72 for a mail), else ``default``."""
    try:
        width = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        width = 0
    return width if width >= 40 else default  # unset: a log, a terminal's default; tables adapt (WIDE)


class PlainConsole(PipeConsole):
    """The console of ``--format plain``: tables drawn with ASCII (a mail client or checkpatch may mangle
    box-drawing characters), prose wrapped at blanks to the width with a hanging indent (a word, a path or
    an id is never cut)."""

    def print(self, *objects: Any, **kw: Any) -> None:  # type: ignore[override]
        from rich.console import Group

        flat: list[Any] = []
        for o in objects:  # a Group is a vertical stack: its parts are printed one by one
            flat.extend(o.renderables if isinstance(o, Group) else [o])
        if not flat:
            super().print(**kw)
        for o in flat:
            self._one(o, **kw)

    def _one(self, o: Any, **kw: Any) -> None:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        if isinstance(o, Table):
            o.box = box.ASCII2 if o.show_edge else box.ASCII_DOUBLE_HEAD
            super().print(o, **kw)
            return
        if not isinstance(o, (str, Text)):
            super().print(o, **kw)
            return
        plain = o.plain if isinstance(o, Text) else self.render_str(o, markup=kw.get("markup")).plain
        super().print(Text(_wrap_hanging(plain, self.width)), soft_wrap=True, end=kw.get("end", "\n"))


def _wrap_hanging(text: str, width: int) -> str:
    import textwrap

    out = []
    for line in text.split("\n"):
        indent = line[:len(line) - len(line.lstrip(" "))]
        out.extend(textwrap.wrap(line, width, subsequent_indent=indent + "  ", break_long_words=False,
                                 break_on_hyphens=False, drop_whitespace=True) or [line])
    return "\n".join(out)


def console(stderr: bool = False) -> Console:
    """A rich console; when output is not a terminal: as wide as $COLUMNS says (else 80), no colour codes,
    no trailing blanks, lines of prose never broken; with ``--format plain`` that and more (PlainConsole)."""
    stream = sys.stderr if stderr else sys.stdout
    if _FORMAT[0] == "plain":
        return PlainConsole(file=_StripTrailing(stream), width=output_width(72), color_system=None, stderr=stderr,
                            highlight=False)
    c = PipeConsole(stderr=stderr)
    if c.is_terminal:
        return c
    # soft_wrap: a line of prose (a trace step, a lockdep line, a path) is never broken in a log, where it is
    # grepped and pasted; tables and listings are what the width lays out
    return PipeConsole(file=_StripTrailing(stream), width=output_width(), color_system=None, stderr=stderr,
                       soft_wrap=True)


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
