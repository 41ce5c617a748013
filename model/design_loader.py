"""Load a design file (``DESIGN = Design(...)``) and turn every way it can fail into one line.

A design file is ordinary Python a driver author writes; a syntax error, an
exception while it runs, or a missing or wrong ``DESIGN`` becomes a
``ModelError`` whose message is one line naming the file (and the line for a
syntax error), which the command line prints with exit code 2.
"""

from __future__ import annotations

import hashlib
import os
import types

from dmabuf_check.model.design import Bug, Design
from dmabuf_check.model.types import ModelError


def _one_line(text: object) -> str:
    first = str(text).strip().splitlines()
    return first[0] if first else ""


def load_design_file(path: str) -> tuple[Design, Bug | None, types.ModuleType]:
    """Run the design file at ``path``; return its DESIGN, its BUG (seeded bugs only) and the module."""
    if not os.path.isfile(path):
        raise ModelError(f"design file {path} not found")
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ModelError(f"cannot read design file {path}: {_one_line(e)}") from None
    try:
        code = compile(source, path, "exec")
    except SyntaxError as e:
        raise ModelError(f"{path}:{e.lineno}: syntax error in the design file: {e.msg}") from None
    except ValueError as e:  # e.g. NUL bytes in the source
        raise ModelError(f"{path}: cannot compile the design file: {_one_line(e)}") from None
    name = "dmabuf_design_" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    mod = types.ModuleType(name)
    mod.__file__ = path
    try:
        exec(code, mod.__dict__)
    except ModelError as e:
        raise ModelError(f"{path}: {_one_line(e)}") from None
    except (Exception, SystemExit) as e:  # a design file must never crash the command line
        raise ModelError(f"{path}: the design file raised {type(e).__name__} while loading: {_one_line(e)}") from None
    return design_of(mod, path)


def design_of(mod: types.ModuleType, where: str) -> tuple[Design, Bug | None, types.ModuleType]:
    d = getattr(mod, "DESIGN", None)
    if d is None:
        raise ModelError(f"{where}: defines no DESIGN = Design(...)")
    if not isinstance(d, Design):
        raise ModelError(f"{where}: DESIGN must be a dmabuf_check.model.design.Design(...), got {type(d).__name__}")
    bug = getattr(mod, "BUG", None)
    if bug is not None and not isinstance(bug, Bug):
        raise ModelError(f"{where}: BUG must be a dmabuf_check.model.design.Bug(...), got {type(bug).__name__}")
    return d, bug, mod
