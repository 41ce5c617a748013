"""Every shell command of README.md and docs/*.md runs, with the exit code and output its text claims.

The commands come from the fenced ```sh, ```bash, ```shell and ```console blocks, and from plain ```
blocks holding ``dmabuf-check ...`` lines. A line is split at ``&&``; each ``dmabuf-check`` part is a
test case named ``doc:line`` and runs through the installed entry point's function
(``dmabuf_check.cli.main:main``, what the ``dmabuf-check`` script calls), in-process to save the
interpreter start-up per command, in a scratch directory of its own doc file: a doc's commands run in
the order they appear, so ``check --trace-dir out/`` feeds the ``trace show out/*deadlock*.json`` below
it. The input files the commands name are written from the docs themselves (``INPUTS``).

A synopsis line is expanded: ``[--opt]`` runs once without and once with each optional part,
``a|b|c`` once per alternative, a placeholder (``FILE``) is replaced as ``PLACEHOLDERS`` says; ``*``
globs in the scratch directory and ``> file`` redirects stdout, as a shell would.

Every command needs an entry in ``EXPECT``: its exit code (else the ``exit N`` its comment says, else
0), text its output must show and the doc sentence (``says``, which must be in the doc) that claims it.
Anything else on a shell line must be in ``SKIP`` with the reason it is not run; a line the extractor
cannot run (a pipe, an unknown placeholder, another program) is a failing case, never skipped. The
outputs the docs show in full (``SHOWN``) are compared line by line on what they show.
"""

from __future__ import annotations

import glob
import io
import itertools
import json
import os
import re
import shlex
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"sh", "bash", "shell", "console"}
PLACEHOLDER = re.compile(r"[A-Z][A-Z_]*[A-Z](\.[a-z]+)?")

# What is on a shell line but is not a dmabuf-check command, and why it is not run.
SKIP = {
    "python3 -m venv .venv": "README install line: the test already runs in an environment with the package",
    ". .venv/bin/activate": "README install line: activates the venv made above (a shell builtin)",
    "pip install .": "README install line: installs the package; CI's `pip install '.[test]'` did",
    "pip install '.[test]'": "README test line: CI's own install step",
    "python -m pytest -q -n auto tests": "README test line: the test suite this file is part of",
    "cd out/kunit": "docs/traces.md KUnit build: enters the directory the export wrote, for make below",
    "make -C /lib/modules/$(uname -r)/build M=$PWD modules":
        "docs/traces.md KUnit build: needs a kernel build tree; tests/test_kunit_export.py builds it where headers exist",
}

# Placeholders of synopsis lines: what each stands for in the scratch directory.
PLACEHOLDERS = {
    # docs/traces.md: the trace its first command saves and its replay line names
    "FILE": "out/traces/r1-n2-dynamic-B4-no-fence-wait-deadlock.trace.json",
    "SMALLER.json": "SMALLER.json",  # an output file name
    "OUT": "OUT",  # an output file name
}


def fenced_blocks(doc: str) -> list[tuple[str, int, list[str]]]:
    """(language, line number of the first content line, content lines) of every fenced block."""
    blocks, lang, start, body = [], None, 0, []
    for no, line in enumerate((ROOT / doc).read_text(encoding="utf-8").splitlines(), 1):
        m = re.match(r"\s*```\s*(\S*)\s*$", line)
        if lang is None and m:
            lang, start, body = m.group(1), no + 1, []
        elif lang is not None and re.match(r"\s*```\s*$", line):
            blocks.append((lang, start, body))
            lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, f"{doc}: a fenced block is not closed"
    return blocks


def python_block(doc: str, must_contain: str) -> str:
    """The first ```python block of ``doc`` holding ``must_contain``."""
    for lang, _no, body in fenced_blocks(doc):
        if lang == "python" and must_contain in "\n".join(body):
            return "\n".join(body) + "\n"
    raise AssertionError(f"{doc}: no python block holds {must_contain!r}")


# The input files the commands name, written from the docs into every scratch directory.
INPUTS = {
    "path/to/my_design.py": lambda: python_block("docs/designs.md", "DESIGN = Design("),  # "Writing a design"
    "my_driver.py": lambda: python_block("docs/programs.md", 'd = Driver("my-udmabuf"'),  # the tutorial program
    "path/to/my_driver.py": lambda: python_block("docs/programs.md", 'd = Driver("my-udmabuf"'),
    "change.py": lambda: python_block("docs/programs.md", "CORE = {"),  # `dmabuf-check core change.py`
}


@dataclass
class Command:
    doc: str
    line: int
    text: str  # the doc's line, comment included
    argv: list[str] = field(default_factory=list)  # after dmabuf-check; empty if not runnable
    stdout_to: str | None = None
    problem: str = ""  # why the extractor cannot run it
    columns: str = "160"  # a leading COLUMNS=N of the doc's line, else what the docs' outputs are shown at

    @property
    def key(self) -> str:
        return " ".join(self.argv) + (f" > {self.stdout_to}" if self.stdout_to else "")

    @property
    def comment(self) -> str:
        return split_comment(self.text)[1]


def split_comment(line: str) -> tuple[str, str]:
    m = re.search(r"(^|\s)#(\s|$)", line)
    return (line[: m.start()], line[m.end():].strip()) if m else (line, "")


def logical_lines(lang: str, start: int, body: list[str]) -> list[tuple[int, str]]:
    out, pending, first = [], "", 0
    for no, line in enumerate(body, start):
        if lang == "console":
            if not pending and not line.startswith("$ "):
                continue  # output shown in the block
            line = line[2:] if not pending else line
        if not pending:
            first = no
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append((first, pending + line))
        pending = ""
    return out


def expand(tokens: list[str]) -> list[list[str]]:
    """A synopsis: without the optional [..] parts, then with each alone; one per a|b|c alternative."""
    base: list[str] = []
    optional: list[tuple[int, list[str]]] = []
    group: list[str] | None = None
    for t in tokens:
        if group is None and t.startswith("["):
            group, t = [], t[1:]
        if group is not None:
            closed = t.endswith("]")
            group.append(t[:-1] if closed else t)
            if closed:
                optional.append((len(base), [g for g in group if g]))
                group = None
            continue
        base.append(t)
    if group is not None:
        raise ValueError("an optional part [.. is not closed")
    variants = [base] + [base[:i] + g + base[i:] for i, g in optional]
    out = []
    for v in variants:
        out += [list(p) for p in itertools.product(*[t.split("|") if "|" in t and all(t.split("|")) else [t] for t in v])]
    return out


def commands_of(doc: str) -> list[Command]:
    cmds: list[Command] = []
    for lang, start, body in fenced_blocks(doc):
        shell = lang in SHELL_LANGS or (lang == "" and any(b.lstrip("$ ").startswith("dmabuf-check ") for b in body))
        if not shell:
            continue
        for no, text in logical_lines(lang, start, body):
            code, _ = split_comment(text)
            if not code.strip():
                continue
            try:
                tokens = shlex.split(code)
            except ValueError as e:
                cmds.append(Command(doc, no, text, problem=f"cannot tokenise: {e}"))
                continue
            parts = [list(g) for k, g in itertools.groupby(tokens, lambda t: t == "&&") if not k]
            for part in parts:
                cmds += plan(doc, no, text, part)
    return cmds


def plan(doc: str, no: int, text: str, part: list[str]) -> list[Command]:
    columns = "160"
    if re.fullmatch(r"COLUMNS=\d+", part[0]) and len(part) > 1:  # the one environment setting a doc shows
        columns, part = part[0].split("=")[1], part[1:]
    if part[0] != "dmabuf-check":
        if " ".join(part) in SKIP or " ".join(shlex.quote(t) for t in part) in SKIP:
            return []
        return [Command(doc, no, text, problem=f"not a dmabuf-check command and not in SKIP: {' '.join(part)}")]
    try:
        variants = expand(part[1:])
    except ValueError as e:
        return [Command(doc, no, text, problem=str(e))]
    out = []
    for v in variants:
        stdout_to = None
        if ">" in v:
            i = v.index(">")
            if i != len(v) - 2:
                out.append(Command(doc, no, text, problem="only a final '> FILE' redirection is supported"))
                continue
            v, stdout_to = v[:i], v[i + 1]
        bad = [t for t in v if t in {"|", "<", ">>", ";", "&"} or (PLACEHOLDER.fullmatch(t) and t not in PLACEHOLDERS)]
        if bad:
            out.append(Command(doc, no, text, problem=f"cannot run {' '.join(bad)} (a shell feature or an unknown placeholder)"))
            continue
        out.append(Command(doc, no, text, [PLACEHOLDERS.get(t, t) for t in v], stdout_to, columns=columns))
    return out


COMMANDS = [c for doc in DOCS for c in commands_of(doc)]


def case_ids(cmds: list[Command]) -> list[str]:
    ids, seen = [], {}
    for c in cmds:
        base = f"{c.doc}:{c.line}"
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}.{seen[base]}")
    return ids


# ---------------------------------------------------------------------------------------------------
# Running


def run_cli(argv: list[str], cwd: Path, columns: str = "160") -> tuple[int, str, str]:
    from dmabuf_check import registry
    from dmabuf_check.cli.main import main

    registry._FILES.clear()  # a fresh process per command: no design file loaded by an earlier one
    old_cwd, old_cols = os.getcwd(), os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = columns  # by default the docs show outputs as a wide terminal prints them (tables)
    out, err = io.StringIO(), io.StringIO()
    try:
        os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
    finally:
        os.chdir(old_cwd)
        registry._FILES.clear()  # nor for the tests that run after this one
        if old_cols is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old_cols
    return code, out.getvalue(), err.getvalue()


@dataclass
class Ran:
    code: int
    out: str
    err: str
    seconds: float = 0.0


class Workspaces:
    """One scratch directory per doc file; a command runs after every command above it in its doc."""

    def __init__(self, factory):
        self.factory = factory
        self.dirs: dict[str, Path] = {}
        self.done: dict[int, Ran] = {}

    def dir(self, doc: str) -> Path:
        if doc not in self.dirs:
            d = self.factory.mktemp(re.sub(r"\W", "_", doc))
            for name, source in INPUTS.items():
                (d / name).parent.mkdir(parents=True, exist_ok=True)
                (d / name).write_text(source(), encoding="utf-8")
            self.dirs[doc] = d
        return self.dirs[doc]

    def result(self, cmd: Command) -> Ran:
        for c in COMMANDS:
            if c.doc == cmd.doc and id(c) not in self.done and not c.problem:
                self.done[id(c)] = self._run(c)
            if c is cmd:
                break
        return self.done[id(cmd)]

    def _run(self, c: Command) -> Ran:
        import time

        cwd = self.dir(c.doc)
        argv = []
        for t in c.argv:
            if any(ch in t for ch in "*?"):
                hits = sorted(glob.glob(t, root_dir=cwd))
                if not hits:
                    return Ran(-1, "", f"the glob {t} matches no file")
                argv += hits
            else:
                argv.append(t)
        t0 = time.perf_counter()
        code, out, err = run_cli(argv, cwd, c.columns)
        if c.stdout_to:
            (cwd / c.stdout_to).write_text(out, encoding="utf-8")
        return Ran(code, out, err, time.perf_counter() - t0)


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory):
    return Workspaces(tmp_path_factory)


def flat(s: str) -> str:
    return " ".join(s.split())


DOC_TEXT = {doc: flat((ROOT / doc).read_text(encoding="utf-8")) for doc in DOCS}


# ---------------------------------------------------------------------------------------------------
# What each command must do


@dataclass
class Expect:
    code: int | None = None  # None: the comment's "exit N", else 0
    shows: tuple[str, ...] = ()  # in stdout + stderr (whitespace folded)
    says: tuple[str, ...] = ()  # the doc claims they stand for, in the doc ("docs/x.md: ..." for another doc)
    files: tuple[str, ...] = ()  # written into the scratch directory (a file not empty, a directory not empty)
    same_as: tuple[str, ...] = ()  # its verdict line equals the one of this other command
    check: Callable[[str], None] | None = None  # a further check of stdout


def library_counts(out: str) -> None:
    """The numbers of built-in designs and seeded bugs the docs give, counted in ``list --designs --bugs``."""
    designs, bugs = out.split("seeded bugs (dmabuf-check check NAME)")
    kinds = {m[0]: m[1] for m in re.findall(r"^│ (\S+)\s+│[^│]*│ ([^│]*?)\s*│", designs, re.M)}
    bases = re.findall(r"^│ bug-\S*\s+│ (\S+)\s+│", bugs, re.M)
    programs = sum(kinds.get(b) == "program" for b in bases)
    flags = sum(1 for k in kinds.values() if k != "program")
    assert (len(bases), programs, len(bases) - programs, flags) == (102, 70, 32, 7), (len(bases), programs, flags)


def _plain_mail(out: str, width: int) -> None:
    """``--format plain``: within the width, no box drawing, no trailing blanks, wrapped lines hang."""
    lines = out.splitlines()
    assert lines and max(len(x) for x in lines) <= width, max(lines, key=len)
    assert not any(c in out for c in "│┃━╇"), out
    assert [x for x in lines if x != x.rstrip()] == []
    why = next(i for i, x in enumerate(lines) if x.startswith("why: "))
    assert lines[why + 1].startswith("  ")


COUNTS = (  # what library_counts checks, as each doc says it
    "README.md: one of 102 seeded bugs", "README.md: 70 of the seeded bugs are programs",
    "docs/programs.md: 70 real kernel bugs as programs", "docs/programs.md: 70 of the seeded bugs",
    "docs/designs.md: seven built-in designs", "docs/designs.md: thirty-two seeded bugs",
)
TRACE = "out/traces/r1-n2-dynamic-B4-no-fence-wait-deadlock.trace.json"
PROVED = tuple(f"{p}: proved (" for p in (
    "map-after-attach", "attach-holds-ref", "no-migration-while-mapped", "dma-targets-current-storage", "pin-count",
    "release-is-final", "no-stuck-state", "no-fence-wait-deadlock"))

EXPECT: dict[tuple[str, str], Expect] = {
    # README.md
    ("README.md", "check r1 --importers 3"): Expect(
        shows=("all 8 properties hold (1,848 states)",), says=('it exits 0 with "all 8 properties hold (1,848 states)"',)),
    ("README.md", "list"): Expect(
        shows=("R1 reference model", "r1 seeded-bug variants (--variant)", "r1 properties (--property)", "kernel rule"),
        says=("models, seeded-bug variants, properties and their kernel rules",)),
    ("README.md", "explain MIG-4"): Expect(
        shows=("MIG-4 (rules catalog", "Kernel source:", "Checked by:", "no-migration-while-mapped"),
        says=("a kernel rule as the catalog states it, its source, what checks it",)),
    ("README.md", "list --rules"): Expect(
        shows=("kernel rules (dmabuf-check explain ID)", "MIG-4", "KREF-3", "LOCKDEP-4"),
        says=("every rule of the catalog",)),
    ("README.md", "check r1 -n 2 --variant B4"): Expect(
        shows=("no-fence-wait-deadlock violated after 8 steps", "wait-for cycle exporter → fence 1 → lock resv → exporter"),
        says=("a seeded bug: shortest counterexample, exit 1",
              "the cycle is named (`exporter → fence 1 → lock resv → exporter`)")),
    ("README.md", "check r1 -n 6 --kind static --no-symmetry --json out.json"): Expect(
        shows=("all 8 properties hold (129,374 states)",), says=("| static | 6 | 129,374 |",), files=("out.json",)),
    ("README.md", "check r1 -n 3 --variant B2 --keep-going"): Expect(
        code=1, shows=("no-migration-while-mapped violated after 8 steps", "dma-targets-current-storage violated after 11 steps"),
        says=("every violated property (here two), each with its own shortest trace",)),
    ("README.md", "check r1 -n 2 --variant B4 --liveness --keep-going"): Expect(
        code=1, shows=("fence-signals violated a lasso of 19 steps", "move-completes violated a lasso of 10 steps",
                       "steps below repeat forever", "the run is fair to signal"),
        says=("also fence liveness under weak fairness (fair lassos)",)),
    ("README.md", "check ttm-vram --liveness"): Expect(
        shows=("all 15 properties hold (18,625 states)", "fence-eventually-signals │ holds", "calls-return │ holds"),
        says=("fences signal, started calls return", "docs/designs.md: `check ttm-vram --liveness`: 18,625 states, both hold")),
    ("README.md", "check r1 -n 2 --variant B4 --calls --trace-dir out/"): Expect(
        code=1, shows=("importer 1: dma_buf_map_attachment(att1, DMA_BIDIRECTIONAL) → sgt1",),
        says=("per-thread kernel calls; save the traces",), files=("out/r1-n2-dynamic-B4-no-fence-wait-deadlock.trace.json",)),
    ("README.md", "trace show out/*deadlock*.json --calls"): Expect(
        shows=("no-fence-wait-deadlock violated after 8 steps", "importer 1: dma_buf_map_attachment(att1, DMA_BIDIRECTIONAL)"),
        says=("a saved trace: replay, show, shrink, export",)),
    ("README.md", "trace export out/*deadlock*.json --as kunit -o b4.c"): Expect(
        shows=("wrote kunit to b4.c",), says=("a KUnit suite",), files=("b4.c",)),
    ("README.md", "locks r1 -n 2 --variant B4 --svg locks.svg"): Expect(
        code=1,
        shows=("WARNING: possible circular locking dependency detected", "Possible unsafe locking scenario:", "ACTUAL deadlock"),
        says=("lock-order graph, lockdep-style reports", "marked ACTUAL when the same search reaches the deadlock",
              "1 a property is violated"), files=("locks.svg",)),
    ("README.md", "bench --max-n 2 --kind static"): Expect(
        shows=("static N=1 symmetry=off: 58 states", "static N=2 symmetry=off: 254 states", "static N=2 symmetry=on: 156 states"),
        says=("| static | 1 | 58 | 146 |", "| static | 2 | 254 | 991 |", "| 26 | 156 |")),
    ("README.md", "check r1 -n 4 --no-symmetry --checkpoint ck/ --max-states 30000"): Expect(
        shows=("state limit of 30000 reached", "checkpoint written to ck/"), says=("3 a resource limit (`--max-states`",),
        files=("ck",)),
    ("README.md", "check r1 -n 4 --no-symmetry --resume ck/"): Expect(
        shows=("resuming:", "all 8 properties hold (68,038 states)"), says=("| dynamic | 4 | 68,038 |",)),
    ("README.md", "check path/to/my_design.py"): Expect(
        shows=("my-gpu (kernel=v6.16", "file=path/to/my_design.py", "all 13 properties hold"),
        says=("a design file, such as the one docs/designs.md writes",)),
    ("README.md", "check path/to/my_design.py --kernel v6.2 --mix static=1 --buffers 2 --config DMABUF_MOVE_NOTIFY=y"): Expect(
        shows=("my-gpu (kernel=v6.2, mix=static=1, buffers=2, config=DMABUF_MOVE_NOTIFY=y", "all 13 properties hold")),
    ("README.md", "check ttm-vram"): Expect(
        shows=("ttm-vram (kernel=v6.16, mix=static=1,dynamic=1,p2p=1", "all 13 properties hold (18,625 states)"),
        says=("built-in designs: ttm-vram, gem-prime, system-heap, udmabuf",
              "docs/designs.md: | ttm-vram | static=1,dynamic=1,p2p=1 | True | 18,625 |")),
    ("README.md", "check bug-move-no-notify"): Expect(
        code=1, shows=("no-migration-while-mapped violated after 5 steps", "move_notify never invalidated the mapping"),
        says=("one of 102 seeded bugs from the kernel's history",)),
    ("README.md", "list --designs --bugs"): Expect(
        shows=("built-in designs (dmabuf-check check NAME)", "seeded bugs (dmabuf-check check NAME)", "│ gem-prime ",
               "│ system-heap ", "│ udmabuf "),
        says=("what is built in", *COUNTS), check=library_counts),
    ("README.md", "list --properties --profile v6.2"): Expect(
        shows=("properties that apply under v6.2",), says=("the rule catalog of one protocol generation",)),
    ("README.md", "check path/to/my_driver.py"): Expect(
        code=1, shows=("kref-leak violated after 4 steps (KREF-4)",),
        says=("a file defining DESIGN = Driver(...)", "docs/programs.md: exit 1 with a trace if one breaks")),
    ("README.md", "check bug-dma-buf-fd-trace"): Expect(
        code=1, shows=("use-after-free violated after 9 steps", "DMA_BUF_TRACE"),
        says=("70 of the seeded bugs are programs of real kernel bugs",)),
    ("README.md", "locks path/to/my_driver.py"): Expect(
        shows=("no lock-order cycle",), says=("lockdep's report over every interleaving",)),
    ("README.md", "core change.py"): Expect(
        code=1, shows=("1 of 30 driver programs broken by the change", "export-fd │ dma_buf_fd"),
        says=("docs/programs.md: exit 1: \"1 of 30 driver programs broken by the change\" (export-fd)",)),
    ("README.md", "prove r1 -n 2 --engine kind"): Expect(
        shows=("independently re-checked", *PROVED), says=("every invariant for N = 2, certificate re-checked independently",)),
    ("README.md", "prove r1 --all-n --kind static --property map-after-attach,no-fence-wait-deadlock"): Expect(
        code=5, shows=("map-after-attach proved (inductive for every N", "cannot prove for all N in this fragment"),
        says=('outside the fragment ("cannot prove for all N in this fragment")',
              "proves `map-after-attach` for every N and exits 5")),
    ("README.md", "prove r1 -n 2 --variant B2 --engine bmc --property no-migration-while-mapped"): Expect(
        code=1, shows=("no-migration-while-mapped violated after 8 steps", "no-migration-while-mapped │ violated │ bmc"),
        says=("shortest counterexample (8 steps) by bounded model checking",)),
    # docs/designs.md
    ("docs/designs.md", "check path/to/my_design.py"): Expect(
        shows=("my-gpu (kernel=v6.16", "all 13 properties hold"), says=("the design's own generation (default: v6.16)",)),
    ("docs/designs.md", "check path/to/my_design.py --kernel v6.2"): Expect(
        shows=("my-gpu (kernel=v6.2,", "all 13 properties hold"), says=("another generation",)),
    ("docs/designs.md", "check ttm-vram --mix static=1,dynamic=1,cpu=1"): Expect(
        shows=("ttm-vram (kernel=v6.16, mix=static=1,dynamic=1,cpu=1", "all 20 properties hold"),
        says=("a built-in design, another importer mix",)),
    ("docs/designs.md", "check ttm-evict --mix dynamic=2"): Expect(
        shows=("ttm-evict (kernel=v6.16, mix=dynamic=2, buffers=2", "all 11 properties hold"),
        says=("two buffers, ww acquire contexts",)),
    ("docs/designs.md", "check bug-move-no-notify"): Expect(
        code=1, shows=("no-migration-while-mapped violated after 5 steps", "why:"),
        says=("a seeded bug: its property and a shortest trace", "1 a property is violated")),
    ("docs/designs.md", "list --designs --bugs"): Expect(
        shows=("built-in designs (dmabuf-check check NAME)", "seeded bugs (dmabuf-check check NAME)"),
        says=("built-in designs, the seeded-bug library", *COUNTS), check=library_counts),
    ("docs/designs.md", "list --properties --profile v6.2"): Expect(
        shows=("properties that apply under v6.2", "map-holds-resv"), says=("the rule catalog of one generation",)),
    ("docs/designs.md", "list --design udmabuf > udmabuf.toml"): Expect(
        shows=('name = "udmabuf"', "[ops.map]"), says=("any flag design, built in or a .py file",), files=("udmabuf.toml",)),
    ("docs/designs.md", "check udmabuf.toml"): Expect(
        shows=("properties hold",), says=("the same model and verdicts as 'check udmabuf'",), same_as=("check", "udmabuf")),
    # docs/programs.md
    ("docs/programs.md", "check my_driver.py"): Expect(
        shows=("kref-leak violated after 4 steps (KREF-4)", "why: ioctl returns still holding a reference to buf"),
        says=("every rule its calls can break; exit 1 with a trace if one breaks",)),
    ("docs/programs.md", "check export-fd"): Expect(
        shows=("export-fd (kernel=v6.16", "properties hold"),
        says=("built-in programs (the fixed versions of the seeded bugs)",)),
    ("docs/programs.md", "check bug-vfio-fd-fail-double-free"): Expect(
        code=1, shows=("double-free violated after 8 steps (KOBJ-3)",), says=("70 real kernel bugs as programs",)),
    ("docs/programs.md", "locks my_driver.py"): Expect(
        shows=("no lock-order cycle",), says=("lockdep's view: lock-order cycles, recursive locking",)),
    ("docs/programs.md", "prove my_driver.py --engine bmc --no-lemmas --property kref-leak"): Expect(
        shows=("kref-leak violated after 4 steps", "kref-leak │ violated │ bmc"),
        says=("the same model with z3: the tutorial's 4-step kref-leak below (exit 1)",)),
    ("docs/programs.md", "explain KREF-3"): Expect(
        shows=("KREF-3 (rules catalog", "Kernel source:", "Checked by:", "kref-put-noref"),
        says=("a rule, its kernel source, what checks it",)),
    ("docs/programs.md", "core change.py"): Expect(
        shows=("1 of 30 driver programs broken by the change", "export-fd │ dma_buf_fd",
               "use-after-free after 10 steps: ioctl at 'DMA_BUF_TRACE(dma_buf_fd, dmabuf)' (change.py:3)"),
        says=('exit 1: "1 of 30 driver programs broken by the change" (export-fd)',)),
    # docs/traces.md
    ("docs/traces.md", "check r1 -n 2 --variant B4 --trace-dir out/traces --json out/verdict.json --sarif out/check.sarif "
                       "--junit out/junit.xml"): Expect(
        code=1, shows=("no-fence-wait-deadlock violated after 8 steps",),
        says=("dmabuf-check trace replay out/traces/r1-n2-dynamic-B4-no-fence-wait-deadlock.trace.json",),
        files=(TRACE, "out/verdict.json", "out/check.sarif", "out/junit.xml")),
    ("docs/traces.md", f"trace show {TRACE} --format plain"): Expect(
        shows=("# | actor | action | kernel | changes", "1 | importer 1 | get(1) | dma_buf_get | ref[1] 0 → 1"),
        says=("ASCII table borders (`# | actor | action | kernel | changes`)", "wrapped at blanks to `$COLUMNS`"),
        check=lambda out: _plain_mail(out, 72)),
    ("docs/traces.md", f"trace replay {TRACE}"): Expect(
        shows=("replay ok: all 8 steps match the model and the final state violates no-fence-wait-deadlock",),
        says=("0 ok (for `replay`: every step matches the model and the violation is reproduced)",)),
    ("docs/traces.md", f"trace show {TRACE}"): Expect(
        shows=("no-fence-wait-deadlock violated after 8 steps", "1 │ importer 1 │ get(1) │ dma_buf_get │ ref[1] 0 → 1"),
        says=("numbered steps, actor, action, and only the variables each step changed (`old → new`)",)),
    ("docs/traces.md", f"trace show {TRACE} --full"): Expect(
        shows=("┃ storage ┃ pins ┃ owner ┃ exp ┃ exp_ref ┃ released ┃", "0 │ │ initial │ UNALLOC │"),
        says=("`--full` shows every variable",)),
    ("docs/traces.md", f"trace show {TRACE} --calls"): Expect(
        shows=("importer 1: dma_buf_map_attachment(att1, DMA_BIDIRECTIONAL) → sgt1: sg_table in SYS",),
        says=("(`importer 1: dma_buf_map_attachment(att1, DMA_BIDIRECTIONAL) → sgt1: sg_table in SYS`)",)),
    ("docs/traces.md", f"trace shrink {TRACE} -o SMALLER.json"): Expect(
        shows=("dropped importer 2 (2 -> 1 importers)", "wrote SMALLER.json"),
        says=("then tries to drop each importer entirely",), files=("SMALLER.json",)),
    ("docs/traces.md", f"trace shrink {TRACE} -o SMALLER.json --keep-importers"): Expect(
        shows=("8 left; 55 candidates tried; wrote SMALLER.json",), files=("SMALLER.json",)),
    **{("docs/traces.md", f"trace export {TRACE} --as {fmt} -o OUT"): Expect(
        shows=(f"wrote {fmt} to OUT",), says=(f"`{fmt}`",), files=("OUT",))
       for fmt in ("pytest", "kunit", "itf", "mermaid", "svg")},
    ("docs/traces.md", f"trace export {TRACE} --as kselftest -o OUT"): Expect(  # an in-kernel trace: no uAPI
        code=2, shows=("export it with --as kunit",), says=("the command refuses (exit 2) and points to `--as kunit`",)),
    ("docs/traces.md", "check bug-put-while-attached --trace-dir out/t"): Expect(
        code=1, shows=("attach-holds-ref violated after 4 steps",), files=("out/t",)),
    ("docs/traces.md", "trace export out/t/*.trace.json --as kunit -o out/kunit/"): Expect(
        shows=("wrote kunit to out/kunit/dmabuf_kunit_bug_put_while_attached.c with Kbuild and Makefile",),
        says=(".c + Kbuild + Makefile", "writes `dmabuf_kunit_<model>.c`, a `Kbuild`"),
        files=("out/kunit/dmabuf_kunit_bug_put_while_attached.c", "out/kunit/Kbuild", "out/kunit/Makefile")),
    ("docs/traces.md", "trace export out/t/*.trace.json --as kunit -o suite.c"): Expect(
        shows=("wrote kunit to suite.c",), says=("the .c only",), files=("suite.c",)),
}


def expected_code(c: Command) -> int:
    e = EXPECT[(c.doc, c.key)]
    m = re.search(r"\bexit (\d+)", c.comment)
    said = int(m.group(1)) if m else None
    if e.code is not None and said is not None:
        assert e.code == said, f"EXPECT says exit {e.code}, the doc's comment exit {said}"
    return e.code if e.code is not None else said if said is not None else 0


def verdict_line(out: str) -> str:
    lines = [ln for ln in out.splitlines() if re.match(r"(all \d+ properties hold|\S+ violated after \d+ steps)", ln)]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("cmd", COMMANDS, ids=case_ids(COMMANDS))
def test_doc_command(cmd: Command, workspaces: Workspaces):
    assert not cmd.problem, f"{cmd.doc}:{cmd.line}: {cmd.text.strip()!r}: {cmd.problem}"
    assert (cmd.doc, cmd.key) in EXPECT, f"no EXPECT entry for ({cmd.doc!r}, {cmd.key!r}): say what the doc claims"
    e = EXPECT[(cmd.doc, cmd.key)]
    for claim in e.says:
        doc, _, text = claim.partition(": ") if claim.split(": ")[0] in DOCS else (cmd.doc, "", claim)
        assert flat(text) in DOC_TEXT[doc], f"{doc} no longer says {text!r}: update EXPECT"
    r = workspaces.result(cmd)
    both = flat(r.out + "\n" + r.err)
    assert r.code == expected_code(cmd), f"exit {r.code}, expected {expected_code(cmd)}\n{r.out[-3000:]}\n{r.err[-2000:]}"
    for text in e.shows:
        assert flat(text) in both, f"output lacks {text!r}\n{r.out[-3000:]}\n{r.err[-2000:]}"
    for name in e.files:
        path = workspaces.dir(cmd.doc) / name
        assert any(path.iterdir()) if path.is_dir() else path.stat().st_size > 0, f"{name} was not written"
    if e.check:
        e.check(r.out)
    if e.same_as:
        _code, out, _err = run_cli(list(e.same_as), workspaces.dir(cmd.doc))
        assert verdict_line(r.out) and verdict_line(r.out) == verdict_line(out), (verdict_line(r.out), verdict_line(out))


def test_expect_and_skip_tables_name_only_what_the_docs_have():
    keys = {(c.doc, c.key) for c in COMMANDS}
    assert not set(EXPECT) - keys, f"EXPECT entries for commands no doc has: {sorted(set(EXPECT) - keys)}"
    words = " ".join(DOC_TEXT.values())
    assert not [s for s in SKIP if s not in words], "a SKIP entry no doc has"
    assert len([c for c in COMMANDS if not c.problem]) >= 50


# ---------------------------------------------------------------------------------------------------
# Outputs the docs show in full: docs/programs.md's tutorial and docs/json-verdict.md's example


def shown_block(doc: str, first_line: str) -> list[str]:
    """The plain ``` block of ``doc`` whose first line starts with ``first_line``."""
    for lang, _no, body in fenced_blocks(doc):
        if lang in ("", "json") and body and body[0].strip().startswith(first_line):
            return body
    raise AssertionError(f"{doc}: no shown output starts with {first_line!r}")


def step_rows(lines: list[str]) -> list[list[str]]:
    """The numbered rows of a trace table, wrapped cells joined: [number, actor, ..., changes]."""
    rows: list[list[str]] = []
    for ln in lines:
        cells = [c.strip() for c in ln.split("│")]
        if re.fullmatch(r"\d+", cells[0]):
            rows.append(cells)
        elif rows and cells[0] == "" and len(cells) == len(rows[-1]):
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
    return rows


def the_tutorial(variant: str) -> str:
    """docs/programs.md's udmabuf program: as written, with the fix, or the fix broken in one line."""
    body = python_block("docs/programs.md", 'd = Driver("my-udmabuf"')
    if variant == "leak":
        return body
    fix = python_block("docs/programs.md", 'fail="err_put"')
    start, end = body.index("    k.kzalloc(priv"), body.index("@d.userspace")
    fixed = body[:start] + fix + "\n" + body[end:]
    if variant == "fixed":
        return fixed
    use = re.search(r"`(k\.use\(priv, \"[^\"]+\"\))` right after the\s+`dma_buf_fd` line", DOC_TEXT["docs/programs.md"])
    assert use, "docs/programs.md no longer says which line breaks the fixed program"
    at = fixed.index("\n", fixed.index("k.dma_buf_fd(buf")) + 1
    return fixed[:at] + "    " + use.group(1) + "\n" + fixed[at:]


TUTORIAL = [  # (variant, the shown output's first line, the sentence that runs it)
    ("leak", "kref-leak violated after 4 steps", "`dmabuf-check check my_udmabuf.py` reports the error path"),
    ("fixed", "all 11 properties hold (27 states)", "With the two failures on their own labels the check passes"),
    ("use-after-free", "use-after-free violated after 7 steps", "The check prints the interleaving in which userspace closes"),
]


@pytest.mark.parametrize("variant,first,says", TUTORIAL, ids=[t[0] for t in TUTORIAL])
def test_the_tutorial_output_docs_programs_md_shows(variant, first, says, tmp_path):
    assert flat(says) in DOC_TEXT["docs/programs.md"]
    (tmp_path / "my_udmabuf.py").write_text(the_tutorial(variant), encoding="utf-8")
    shown = [ln.strip() for ln in shown_block("docs/programs.md", first)]
    code, out, err = run_cli(["check", "my_udmabuf.py"], tmp_path)
    lines = [ln.strip() for ln in out.splitlines()]
    assert code == (0 if variant == "fixed" else 1), out + err
    assert shown[0] in lines  # the verdict line, exactly
    why = [ln for ln in shown if ln.startswith("why:")]
    assert why == [ln for ln in lines if ln.startswith("why:")]  # the explanation, exactly
    doc_rows, out_rows = step_rows(shown), step_rows(out.splitlines())
    assert [r[0] for r in doc_rows] == [r[0] for r in out_rows]  # as many steps
    for d, o in zip(doc_rows, out_rows):
        number, actor, kernel, changes = d
        assert (number, actor, kernel) == (o[0], o[1], o[3])  # output: number, actor, action, kernel, changes
        shown_changes = [c.strip() for c in re.sub(r"\.\.\.$", "", changes).split(", ") if c.strip(" .")]
        assert set(shown_changes) <= set(o[4].split(", ")), (shown_changes, o[4])
    if variant == "leak":  # "measured: 4 steps, 11 properties checked"
        assert "measured: 4 steps, 11 properties checked" in DOC_TEXT["docs/programs.md"]
        assert len(re.findall(r"^ \S+ +│ (violated|unknown|holds) ", out, re.M)) == 11


def test_the_json_verdict_docs_json_verdict_md_shows(tmp_path):
    m = re.search(r"`dmabuf-check (check [^`]+)` writes this \(exit (\d+);", DOC_TEXT["docs/json-verdict.md"])
    assert m, "docs/json-verdict.md's example no longer names its command"
    code, out, err = run_cli(shlex.split(m.group(1)), tmp_path)
    assert code == int(m.group(2)), out + err
    shown = json.loads("\n".join(shown_block("docs/json-verdict.md", "{")))
    written = json.loads((tmp_path / "out" / "verdict.json").read_text(encoding="utf-8"))
    varying = {"time", "peak_memory_mb", "bytes_per_state"}  # "vary from run to run", the doc says
    assert {k: v for k, v in written.items() if k not in varying} == {k: v for k, v in shown.items() if k not in varying}
    assert set(written) == set(shown)
