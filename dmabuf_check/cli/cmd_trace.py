"""``dmabuf-check trace ...``: replay, show, shrink and export counterexample trace files.

    dmabuf-check trace replay FILE
    dmabuf-check trace show FILE [--full] [--calls]
    dmabuf-check trace shrink FILE -o OUT
    dmabuf-check trace export FILE --as pytest|kselftest|kunit|itf|mermaid|svg -o OUT

``--as kunit -o DIR`` (an existing directory, or a path ending in /) writes the
suite's .c with a Kbuild and a Makefile; ``-o FILE`` writes the .c only.

Exit codes: 0 ok (for replay: the trace is valid and the violation is
reproduced), 1 the replay diverged or did not reproduce the violation, 2 a bad
file or bad usage, reported in one line without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from dmabuf_check.cli import exitcodes
from dmabuf_check.model.types import ModelError

if TYPE_CHECKING:  # the trace format is imported when a trace action runs, not for every command's parser
    from dmabuf_check.traces.format import Trace

FORMATS = ("pytest", "kselftest", "kunit", "itf", "mermaid", "svg")


def register(p: argparse.ArgumentParser) -> None:
    """The arguments of ``dmabuf-check trace`` (its parser and one-line help: ``cli.main.COMMANDS``)."""
    tsub = p.add_subparsers(dest="trace_command", metavar="ACTION", parser_class=type(p))
    tsub.required = True

    r = tsub.add_parser("replay", help="re-check a trace against the model it names (exit 1 if it diverges)")
    r.add_argument("file", help="a trace file (dmabuf-check trace v1)")
    r.set_defaults(run=run, action=_replay)

    s = tsub.add_parser("show", help="print a trace: numbered steps and what changed")
    s.add_argument("file")
    s.add_argument("--full", action="store_true", help="show every variable after every step")
    s.add_argument("--calls", action="store_true", help="also show the kernel API calls of each thread")
    s.add_argument("--width", type=int, default=None, help="output width (default: the terminal's)")
    s.set_defaults(run=run, action=_show)

    k = tsub.add_parser("shrink", help="remove steps and importers while the same property stays violated")
    k.add_argument("file")
    k.add_argument("-o", "--output", required=True, metavar="OUT", help="where to write the shrunk trace")
    k.add_argument("--keep-importers", action="store_true", help="do not re-instantiate with fewer importers")
    k.set_defaults(run=run, action=_shrink)

    e = tsub.add_parser("export", help="turn a trace into a test or a chart")
    e.add_argument("file")
    e.add_argument("--as", dest="fmt", required=True, choices=FORMATS, help="output format")
    e.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file ('-' for standard output); for kunit also a directory: the .c, Kbuild and Makefile")
    e.set_defaults(run=run, action=_export)
    for sp in (r, s, k, e):
        sp.add_argument("--model-file", metavar="PATH",
                        help="the design or driver file the trace was recorded from: a trace never loads a file "
                             "by itself; its content must match the sha256 the trace recorded")


def _err(msg: str) -> None:
    sys.stderr.write(f"dmabuf-check: error: {msg}\n")


def run(args: argparse.Namespace) -> int:
    """Dispatch to the trace action; every unusable input is one line on stderr and exit code 2."""
    from dmabuf_check.traces.format import TraceError

    action: Callable[[argparse.Namespace], int] = args.action
    try:
        if getattr(args, "model_file", None):
            from dmabuf_check.registry import resolve

            if not args.model_file.endswith((".py", ".toml", ".json")):
                raise ModelError(f"--model-file {args.model_file}: a design or driver file ends in .py "
                                 "(or .toml/.json for a design as data)")
            resolve(args.model_file)  # the user's explicit consent to run it; a trace never names it for us
            from dmabuf_check.registry import loaded_files_first

            with loaded_files_first():
                return action(args)
        return action(args)
    except TraceError as e:
        _err(str(e))
        return exitcodes.USAGE
    except ModelError as e:
        _err(str(e))
        return exitcodes.USAGE
    except BrokenPipeError:
        raise  # a reader that stopped early (| head): main() ends quietly
    except OSError as e:
        _err(f"{e.filename or 'output'}: {e.strerror}")
        return exitcodes.USAGE


def _replay(args: argparse.Namespace) -> int:
    from dmabuf_check.traces.format import load
    from dmabuf_check.traces.replay import replay

    report = replay(load(args.file))
    print(report.summary())
    for u, v, why in report.wait_cycle:
        print(f"  {u} -> {v}: {why}")
    return exitcodes.OK if report.ok else exitcodes.VIOLATED


def _show(args: argparse.Namespace) -> int:
    from dmabuf_check.cli.options import console as make_console
    from dmabuf_check.cli.options import output_width
    from dmabuf_check.traces.format import load
    from dmabuf_check.traces.render_terminal import render

    trace = load(args.file)
    console = make_console()
    if args.width:
        console.width = args.width
    elif not console.is_terminal:
        console.width = output_width()
    render(trace, console, full=args.full, calls=args.calls)
    return exitcodes.OK


def _shrink(args: argparse.Namespace) -> int:
    from dmabuf_check.traces.format import load, save
    from dmabuf_check.traces.shrink import ShrinkError, shrink

    trace = load(args.file)
    try:
        report = shrink(trace, drop_importers=not args.keep_importers)
    except ShrinkError as e:
        _err(str(e))
        return exitcodes.VIOLATED  # the trace diverges from the model, as for replay
    path = save(report.trace, args.output)
    print(f"{report.summary()}; wrote {path}")
    return exitcodes.OK


def _render(trace: Trace, fmt: str, model_file: str | None = None) -> str:
    if fmt == "pytest":
        from dmabuf_check.traces.export_pytest import to_pytest

        return to_pytest(trace, model_file)
    if fmt == "kselftest":
        from dmabuf_check.traces.export_kselftest import to_kselftest

        return to_kselftest(trace)
    if fmt == "kunit":
        from dmabuf_check.traces.export_kunit import to_kunit

        return to_kunit(trace)
    if fmt == "itf":
        from dmabuf_check.traces.itf import to_itf

        return json.dumps(to_itf(trace), indent=1) + "\n"
    if fmt == "mermaid":
        from dmabuf_check.traces.chart import to_mermaid

        return to_mermaid(trace)
    from dmabuf_check.traces.chart import to_svg

    return to_svg(trace)


def _export(args: argparse.Namespace) -> int:
    from dmabuf_check.traces.format import load, write_atomic
    from dmabuf_check.traces.replay import replay

    trace = load(args.file)
    report = replay(trace)  # a test or chart of behaviour the model does not have would lie
    if not report.ok:
        _err(f"{args.file} does not replay against the model, so it is not exported: "
             f"{'; '.join(report.summary().splitlines())} "
             "(dmabuf-check trace replay shows where)")
        return exitcodes.VIOLATED
    model_file = None
    if "file" in trace.params and args.model_file:  # the test loads the design file, relative to where it lives
        here = os.getcwd() if args.output == "-" else os.path.dirname(os.path.abspath(args.output))
        model_file = os.path.relpath(os.path.abspath(args.model_file), here)
    if args.fmt == "kselftest":
        from dmabuf_check.traces.export_kunit import uses_uapi

        if not uses_uapi(trace):  # a kernel selftest drives uAPI only; in-kernel calls belong in a KUnit suite
            print(f"dmabuf-check: error: {args.file} makes in-kernel calls only, which a kernel selftest (uAPI: "
                  "ioctls, mmap, close) cannot make: export it with --as kunit", file=sys.stderr)
            return exitcodes.USAGE
    if args.fmt == "kunit" and args.output != "-" and (os.path.isdir(args.output) or args.output.endswith("/")):
        return _export_kunit_dir(trace, args.output)
    text = _render(trace, args.fmt, model_file)
    if args.output == "-":
        sys.stdout.write(text)
        return exitcodes.OK
    path = write_atomic(args.output, text)
    hint = ""
    if args.fmt == "kselftest":
        from dmabuf_check.traces.export_kselftest import HEADER

        hint = f" (compile with -I {HEADER.parent}; it includes {HEADER.name})"
    print(f"wrote {args.fmt} to {path}{hint}", file=sys.stderr)
    return exitcodes.OK


def _export_kunit_dir(trace: Trace, out: str) -> int:
    """``-o DIR``: the suite's .c beside the Kbuild and Makefile that build it as an out-of-tree module."""
    from dmabuf_check.traces.export_kunit import module_name, to_kbuild, to_kunit, to_makefile
    from dmabuf_check.traces.format import write_atomic

    os.makedirs(out, exist_ok=True)
    name = module_name(trace)
    path = write_atomic(os.path.join(out, f"{name}.c"), to_kunit(trace))
    write_atomic(os.path.join(out, "Kbuild"), to_kbuild(trace))
    write_atomic(os.path.join(out, "Makefile"), to_makefile(trace))
    print(f"wrote kunit to {path} with Kbuild and Makefile (build: make -C /lib/modules/$(uname -r)/build "
          f"M={os.path.abspath(out)} modules)", file=sys.stderr)
    return exitcodes.OK
