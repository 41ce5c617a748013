"""Load a design file (``DESIGN = Design(...)`` or ``DESIGN = Driver(...)``); every failure is one line.

A design file is ordinary Python a driver author writes; a syntax error, an
exception while it runs, or a missing or wrong ``DESIGN`` becomes a
``ModelError`` whose message is one line naming the file (and the line for a
syntax error), which the command line prints with exit code 2.
"""

from __future__ import annotations

import hashlib
import os
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmabuf_check.model.design import MAX_NAME, Bug, Design
from dmabuf_check.model.lang import Model
from dmabuf_check.model.types import ModelError
from dmabuf_check.model.userfiles import read_bytes

if TYPE_CHECKING:  # the driver layer is imported when a file defines something other than a Design
    from dmabuf_check.model.driver.program import Driver

SOURCE_LIMIT = 16 << 20  # a design, program or lemma file is code a person wrote


def _one_line(text: object) -> str:
    try:
        first = str(text).strip().splitlines()
    except Exception:  # an exception whose __str__ raises
        return "(unprintable)"
    return first[0] if first else ""


def load_core_file(path: str) -> dict[str, Callable]:
    """Run a file proposing a change of the dma-buf core: ``CORE = {"dma_buf_fd": fn, ...}``, each ``fn`` a
    replacement as ``Driver.core`` takes it (``fn(k, *args, default, **kwargs)``)."""
    from dmabuf_check.model.driver.program import CORE_CALLS

    mod = _run_file(path, "core change")
    core = getattr(mod, "CORE", None)
    if not isinstance(core, dict) or not core:
        raise ModelError(f"{path}: defines no CORE = {{'dma_buf_fd': fn, ...}} (the core calls it replaces)")
    for name, fn in core.items():
        if name not in CORE_CALLS:
            raise ModelError(f"{path}: CORE[{name!r}]: not a replaceable core call; one of {', '.join(CORE_CALLS)}")
        if not callable(fn):
            raise ModelError(f"{path}: CORE[{name!r}] must be a function of the builder")
    return core


def load_design_file(path: str) -> tuple[Design | Driver | UserModel, Bug | None, types.ModuleType]:
    """Run the design file at ``path``; return its DESIGN, its BUG (seeded bugs only) and the module."""
    return design_of(_run_file(path, "design file"), path)


def _run_file(path: str, what: str) -> types.ModuleType:
    """Execute a user's Python file as a module; every way it can fail is one ModelError line."""
    if not os.path.exists(path):
        raise ModelError(f"{what} {path} not found")
    try:
        source = read_bytes(path, what, SOURCE_LIMIT).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelError(f"cannot read {what} {path}: {_one_line(e)}") from None
    try:
        code = compile(source, path, "exec")
    except SyntaxError as e:
        raise ModelError(f"{path}:{e.lineno}: syntax error in the {what}: {e.msg}") from None
    except ValueError as e:  # e.g. NUL bytes in the source
        raise ModelError(f"{path}: cannot compile the {what}: {_one_line(e)}") from None
    name = "dmabuf_design_" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    mod = types.ModuleType(name)
    mod.__file__ = path
    streams = (sys.stdin, sys.stdout, sys.stderr)
    # the file's own directory is importable while it runs, as for `python FILE`: a bug and its fix may share
    # a module beside them
    here = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, here)
    try:
        exec(code, mod.__dict__)
    except ModelError as e:
        raise ModelError(f"{path}: {_one_line(e)}") from None
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # SystemExit, GeneratorExit, ...: a design file must never crash the command line
        raise ModelError(f"{path}: the {what} raised {type(e).__name__} while loading: {_one_line(e)}") from None
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams  # a design may rebind them; it may not take them away
        if here in sys.path:
            sys.path.remove(here)
    if any(s is not None and s.closed for s in streams):
        raise ModelError(f"{path}: the {what} closed standard input, output or error while loading")
    return mod


@dataclass
class UserModel:
    """A file written directly in the modeling language: ``MODEL = Model(...)`` or ``build(**params)``, with
    ``PROPERTIES`` (checked by the registry: properties live a layer above the model)."""

    name: str
    make: Callable[..., Model]
    properties: object
    title: str = ""
    kinds: tuple[str, ...] = ()

    def build(self, **params: object) -> Model:
        try:
            m = self.make(**params)
        except ModelError:
            raise
        except TypeError as e:
            raise ModelError(f"model {self.name}: build() does not take these parameters: {_one_line(e)}") from None
        except Exception as e:  # a user's build(): one line, never a traceback
            raise ModelError(f"model {self.name}: build() raised {type(e).__name__}: {_one_line(e)}") from None
        if not isinstance(m, Model):
            raise ModelError(f"model {self.name}: build() must return a Model, got {type(m).__name__}")
        return m


def _user_model(mod: types.ModuleType, where: str) -> UserModel | None:
    model, make = getattr(mod, "MODEL", None), getattr(mod, "build", None)
    if model is None and not callable(make):
        return None
    if model is not None and not isinstance(model, Model):
        raise ModelError(f"{where}: MODEL must be a dmabuf_check.model.lang.Model(...), got {type(model).__name__}")
    if not hasattr(mod, "PROPERTIES"):
        raise ModelError(f"{where}: defines a model but no PROPERTIES = [Property(...), ...] to check")
    if model is not None:
        name = model.name
        return UserModel(name, lambda **_: model, mod.PROPERTIES, model.title)
    probe = UserModel("build", make, mod.PROPERTIES).build()
    return UserModel(probe.name, make, mod.PROPERTIES, probe.title)


def _is_driver(d: object) -> bool:
    from dmabuf_check.model.driver.program import Driver

    return isinstance(d, Driver)


def design_of(mod: types.ModuleType, where: str) -> tuple[Design | Driver | UserModel, Bug | None, types.ModuleType]:
    d = getattr(mod, "DESIGN", None)
    if d is None:
        d = getattr(mod, "DRIVER", None)
    if d is None:
        user = _user_model(mod, where)
        if user is not None:
            return user, None, mod
        raise ModelError(f"{where}: defines no DESIGN = Design(...) and no DRIVER = Driver(...)")
    if not isinstance(d, Design) and not _is_driver(d):
        raise ModelError(f"{where}: DESIGN must be a dmabuf_check.model.design.Design(...) or a "
                         f"dmabuf_check.model.driver.Driver(...), got {type(d).__name__}")
    name = getattr(d, "name", None)
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:  # the registry files designs by name
        raise ModelError(f"{where}: the design's name must be a string of 1 to {MAX_NAME} characters, got "
                         f"{type(name).__name__} {str(name)[:40]!r}")
    bug = getattr(mod, "BUG", None)
    if bug is not None and not isinstance(bug, Bug):
        raise ModelError(f"{where}: BUG must be a dmabuf_check.model.design.Bug(...), got {type(bug).__name__}")
    if bug is not None:
        _check_bug(bug, where)
    return d, bug, mod


def _check_bug(bug: Bug, where: str) -> None:
    """The fields of BUG decide a check (its kernel, mix, buffers, config): wrong types are one line."""
    for f in ("base", "change", "property", "source", "kind"):
        if not isinstance(getattr(bug, f), str):
            raise ModelError(f"{where}: BUG.{f} must be a string, got {type(getattr(bug, f)).__name__}")
    if not isinstance(bug.rules, tuple) or not all(isinstance(r, str) for r in bug.rules):
        raise ModelError(f"{where}: BUG.rules must be a tuple of rule ids (strings)")
    for f in ("kernel", "mix", "config"):
        v = getattr(bug, f)
        if v is not None and not isinstance(v, str):
            raise ModelError(f"{where}: BUG.{f} must be a string or None, got {type(v).__name__}")
    if bug.buffers is not None and (isinstance(bug.buffers, bool) or not isinstance(bug.buffers, int)):
        raise ModelError(f"{where}: BUG.buffers must be 1, 2 or None, got {bug.buffers!r}")
