"""Everything the command line, the Python API and trace replay can check, by name, in one place.

- the built-in models (``MODELS``: R1, with its seeded-bug variants),
- the built-in exporter designs (``model/designs``) and the seeded-bug library
  (``model/designs/bugs``),
- design files a user passes by path (``path/to/design.py``).

``entry(name)`` gives one ``Entry`` for any of them: how to build its model
from parameters, and the properties of its default check. ``resolve`` and
``build`` are the design side: a name or file to a ``DesignRef``, a
``DesignRef`` under a protocol profile to a model and the catalog properties
that apply to it.
"""

from __future__ import annotations

import importlib
import os
import sys
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from dmabuf_check.model import r1
from dmabuf_check.model.lang import Model
from dmabuf_check.model.types import ModelError
from dmabuf_check.model.userfiles import DATA_SUFFIXES
from dmabuf_check.properties import r1 as r1_props
from dmabuf_check.properties.base import LIVENESS, Property

if TYPE_CHECKING:  # the design side (composition, driver programs, the catalog) is imported on first use:
    # checking r1 needs none of it, and its import is most of a small check's start-up time
    from dmabuf_check.model.components.context import BuildInfo
    from dmabuf_check.model.design import Bug, Design
    from dmabuf_check.model.design_loader import UserModel
    from dmabuf_check.model.driver import Driver


@dataclass(frozen=True)
class Entry:
    name: str
    title: str
    build: Callable[..., Model]
    properties: tuple[Property, ...]
    variants: dict[str, dict[str, str]]
    kinds: tuple[str, ...]


MODELS: dict[str, Entry] = {
    "r1": Entry("r1", "R1 reference model: one dma-buf, one exporter, N importers (spec/R1-reference-model.md)",
                r1.build, r1_props.PROPERTIES + r1_props.LIVENESS_PROPERTIES, r1.VARIANTS, r1.KINDS),
}


def entry(name: str) -> Entry:
    if name not in MODELS:
        if is_design(name):
            return design_entry(name)
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(MODELS)} "
                         "(and the designs of 'dmabuf-check list --designs')")
    return MODELS[name]


def select(entry_: Entry, ids: list[str] | None, liveness: bool = False) -> tuple[Property, ...]:
    """The properties named by ``ids``, in catalog order.

    Without ids: every safety property, and the liveness properties too when
    ``liveness`` is set (they need the full state graph, so they are opt-in).
    """
    if not ids:
        return tuple(p for p in entry_.properties if liveness or p.kind != LIVENESS)
    known = {p.id: p for p in entry_.properties}
    for i in ids:
        if i not in known:
            raise ModelError(f"unknown property {i!r} for model {entry_.name}; known: {', '.join(known)}")
    return tuple(p for p in entry_.properties if p.id in ids)


# ---- exporter designs: built-ins, seeded bugs, design files ----------------

@dataclass(frozen=True)
class DesignRef:
    name: str
    design: Design | Driver | UserModel  # an exporter design, a driver program, or a model written directly
    source: str  # the file it is defined in (absolute: what reports point at)
    bug: Bug | None = None
    given: str = ""  # a design file: the path as the user gave it (what a trace records, with the digest)
    digest: str = ""  # a design file: sha256 of its content

    @property
    def is_program(self) -> bool:
        return _is_driver(self.design)

    @property
    def is_user_model(self) -> bool:
        return _is_user_model(self.design)


def _is_driver(design: object) -> bool:
    """A driver program? Without importing the driver layer when nothing loaded it (then nothing is one)."""
    mod = sys.modules.get("dmabuf_check.model.driver.program")
    return mod is not None and isinstance(design, mod.Driver)


def _is_user_model(design: object) -> bool:
    mod = sys.modules.get("dmabuf_check.model.design_loader")
    return mod is not None and isinstance(design, mod.UserModel)


_MODULES: dict[str, DesignRef] = {}  # the built-in design modules loaded so far: one DesignRef each


def _load_module(modname: str) -> DesignRef:
    if modname not in _MODULES:
        from dmabuf_check.model.design_loader import design_of

        mod = importlib.import_module(modname)
        d, bug, _ = design_of(mod, modname)
        _MODULES[modname] = DesignRef(d.name, d, os.path.abspath(mod.__file__ or modname), bug)
    return _MODULES[modname]


@lru_cache(maxsize=1)
def builtin() -> dict[str, DesignRef]:
    from dmabuf_check.model import designs

    refs = [_load_module(f"dmabuf_check.model.designs.{m}") for m in designs.BUILTIN]
    refs += [_load_module(f"dmabuf_check.model.designs.programs.{m}") for m in designs.PROGRAMS]
    return {r.name: r for r in refs}


@lru_cache(maxsize=1)
def _bug_modules() -> tuple[str, ...]:
    import pkgutil

    from dmabuf_check.model.designs import bugs as pkg

    return tuple(sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")))


@lru_cache(maxsize=1)
def bugs() -> dict[str, DesignRef]:
    refs = [_load_module(f"dmabuf_check.model.designs.bugs.{m}") for m in _bug_modules()]
    from dmabuf_check.model import designs

    for m in designs.PROGRAMS:  # a driver program module lists its seeded bugs: BUGS = {name: Bug}
        mod = importlib.import_module(f"dmabuf_check.model.designs.programs.{m}")
        for variant, bug in mod.BUGS.items():
            refs.append(DesignRef(f"bug-{variant}", mod.make(variant), os.path.abspath(mod.__file__ or m), bug))
    return {r.name: r for r in refs}


_FILES: dict[str, DesignRef] = {}  # design files loaded in this process, by design name
_FILES_FIRST = False  # while set, a loaded file's design wins over a built-in one of the same name
_INFO: weakref.WeakKeyDictionary[Model, BuildInfo] = weakref.WeakKeyDictionary()  # what each built model knows


@contextmanager
def loaded_files_first() -> Iterator[None]:
    """Names resolve to the design files loaded so far before the built-in designs: a trace tool given
    ``--model-file`` rebuilds the file's design even when it is named like a built-in one (a data design
    written by ``list --design NAME`` keeps the name)."""
    global _FILES_FIRST
    old, _FILES_FIRST = _FILES_FIRST, True
    try:
        yield
    finally:
        _FILES_FIRST = old


def info_for(model: Model) -> BuildInfo:
    """The BuildInfo of a design model built by ``build`` (properties of a rebuilt model need it)."""
    if model not in _INFO:
        raise ModelError(f"model {model.name} was not built from a design by this registry")
    return _INFO[model]


def _named_module(ref: str) -> DesignRef | None:
    """The built-in design, driver program or seeded bug ``ref``, when the module named after it defines it
    (``udmabuf``: designs/udmabuf.py, ``bug-vmap-no-pin``: designs/bugs/vmap_no_pin.py): one module imported
    instead of every design, program and bug (a name is built in once: tests/test_startup.py). None when no
    module is named so (a driver program's seeded bugs, an unknown name): the full tables decide."""
    from dmabuf_check.model import designs

    stem = ref.replace("-", "_")
    if stem in designs.BUILTIN:
        modname = f"dmabuf_check.model.designs.{stem}"
    elif stem in designs.PROGRAMS:
        modname = f"dmabuf_check.model.designs.programs.{stem}"
    elif ref.startswith("bug-") and stem[4:] in _bug_modules():
        modname = f"dmabuf_check.model.designs.bugs.{stem[4:]}"
    else:
        return None
    r = _load_module(modname)
    return r if r.name == ref else None


def _builtin_ref(ref: str) -> DesignRef | None:
    """``builtin()[ref]``, else ``bugs()[ref]``, else None; loading every module only for a name no module
    is named after."""
    found = _named_module(ref)
    if found is not None:
        return found
    return builtin().get(ref) or bugs().get(ref)


def is_design(ref: str) -> bool:
    if ref.endswith((".py", *DATA_SUFFIXES)) or ref in _FILES:
        return True
    if ref in MODELS:  # no built-in design or bug is named like a built-in model (tests/test_startup.py)
        return False
    return _builtin_ref(ref) is not None


def file_digest(path: str, helpers: tuple[str, ...] = ()) -> str:
    """sha256 of a design file's content, and of the helper modules beside it that it imports (by their path
    relative to the file and their content), so a trace notices a change of either."""
    import hashlib

    h = hashlib.sha256()
    base = os.path.dirname(os.path.abspath(path))
    for p in (path, *sorted(helpers)):
        try:
            with open(p, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ModelError(f"cannot read design file {p}: {e.strerror}") from None
        if p != path:
            h.update(b"\0" + os.path.relpath(p, base).encode() + b"\0")
        h.update(data)
    return h.hexdigest()


def _local_helpers(path: str, module: object) -> tuple[str, ...]:
    """The helper modules a design file uses from its own directory tree: those its namespace holds, or
    holds functions and classes of (``from common import make``), other than the package's own."""
    import types

    base = os.path.dirname(os.path.abspath(path)) + os.sep
    me = os.path.abspath(path)
    out: set[str] = set()
    for value in list(vars(module).values()):
        mod = value if isinstance(value, types.ModuleType) else sys.modules.get(getattr(value, "__module__", "") or "")
        name = getattr(mod, "__name__", "") or ""
        f = getattr(mod, "__file__", None)
        if not f or name.startswith("dmabuf_check"):
            continue
        f = os.path.abspath(f)
        if f.startswith(base) and f != me and f.endswith(".py"):
            out.add(f)
    return tuple(sorted(out))


def _record_file(m: Model, ref: DesignRef) -> None:
    """A model built from a design file records it by content and by the path the user gave, never by an
    absolute path of this machine (a trace travels)."""
    if ref.given and ref.name in _FILES:
        m.params["file"] = ref.given
        m.params["file_sha256"] = ref.digest


def resolve(ref: str) -> DesignRef:
    if ref.endswith((".py", *DATA_SUFFIXES)):
        if ref.endswith(DATA_SUFFIXES):  # a design as data: parsed, never run
            from dmabuf_check.model import design_data

            d, bug = design_data.load(ref)
        else:
            from dmabuf_check.model.design_loader import load_design_file

            d, bug, module = load_design_file(ref)
            helpers = _local_helpers(ref, module)
        r = DesignRef(d.name, d, os.path.abspath(ref), bug, given=ref,
                      digest=file_digest(ref, helpers if not ref.endswith(DATA_SUFFIXES) else ()))
        _FILES[d.name] = r
        return r
    if _FILES_FIRST and ref in _FILES:
        return _FILES[ref]
    found = _builtin_ref(ref)
    if found is not None:
        return found
    if ref in _FILES:
        return _FILES[ref]
    raise ModelError(f"unknown design {ref!r}; built-in designs: {', '.join(builtin())} "
                     "(seeded bugs: dmabuf-check list --bugs)")


def build(ref: DesignRef, kernel: str | None = None, *, mix: str | None = None, importers: int | None = None,
          buffers: int | None = None, config: str | None = None,
          liveness: bool = False) -> tuple[Model, BuildInfo, tuple[Property, ...]]:
    """The model of a design under a profile, and every catalog property that applies to it (the liveness
    ones with ``liveness``: they need the whole state graph)."""
    if _is_driver(ref.design):
        return _build_program(ref, kernel, mix=mix, importers=importers, buffers=buffers, config=config)
    if _is_user_model(ref.design):
        return _build_user_model(ref, kernel=kernel, mix=mix, buffers=buffers, config=config,
                                 importers=importers)
    bug = ref.bug
    kernel = kernel or (bug.kernel if bug else None)
    if mix is None and importers is None and bug is not None:
        mix = bug.mix
    if buffers is None and bug is not None:
        buffers = bug.buffers
    if config is None and bug is not None:
        config = bug.config
    from dmabuf_check.model.compose import build as compose
    from dmabuf_check.model.profiles import profile
    from dmabuf_check.properties.catalog import for_model

    m, info = compose(ref.design, kernel, mix=mix, importers=importers, buffers=buffers, source=ref.source,
                      config=config)
    _record_file(m, ref)
    _INFO[m] = info
    return m, info, for_model(m, info, profile(str(m.params["kernel"])), liveness=liveness)


def _build_program(ref: DesignRef, kernel: str | None, **refused: object) -> tuple[Model, object, tuple[Property, ...]]:
    """A driver program's model: its threads are written out, so importer and buffer options do not apply."""
    for flag, v in refused.items():
        if v is not None:
            raise ModelError(f"--{flag} applies to exporter designs; driver program {ref.name} writes out its own "
                             "threads and objects")
    kernel = kernel or (ref.bug.kernel if ref.bug else None)
    from dmabuf_check.properties.kernel_objects import for_driver

    m, info = ref.design.build(kernel)
    m.source = ref.source  # reports (SARIF regions) point at the calls in this file
    _record_file(m, ref)
    _INFO[m] = info  # type: ignore[assignment]
    # the default check: every safety rule; liveness (the whole state graph) only where a seeded bug is one
    own = ref.bug.property if ref.bug else None
    return m, info, tuple(p for p in for_driver(m, info) if p.kind != LIVENESS or p.id == own)


def _user_properties(ref: DesignRef) -> tuple[Property, ...]:
    props = ref.design.properties  # type: ignore[union-attr]
    try:
        props = tuple(props)  # type: ignore[arg-type]
    except TypeError:
        raise ModelError(f"{ref.source}: PROPERTIES must be a list of Property(...), got {type(props).__name__}") from None
    for p in props:
        if not isinstance(p, Property):
            raise ModelError(f"{ref.source}: PROPERTIES must hold Property(...) objects, got {type(p).__name__}")
    return props


def _build_user_model(ref: DesignRef, **params: object) -> tuple[Model, None, tuple[Property, ...]]:
    """A model written in the modeling language: its own build(**params), its own properties."""
    given = {k: v for k, v in params.items() if v is not None}
    m = ref.design.build(**given)  # type: ignore[union-attr]
    m.source = m.source or ref.source
    _record_file(m, ref)
    return m, None, _user_properties(ref)


def select_design(props: tuple[Property, ...], ids: list[str] | None, name: str) -> tuple[Property, ...]:
    if not ids:
        return props
    known = {p.id: p for p in props}
    for i in ids:
        if i not in known:
            hint = ""
            if any(w in i for w in ("lock-order", "lockdep", "circular", "cycle")) and "no-recursive-lock" not in known:
                hint = (" (lock-order cycles are lockdep's report: run `dmabuf-check locks` on the same design or "
                        "file, which lists every cycle with its scenario)")
            raise ModelError(f"unknown property {i!r} for design {name}; known: {', '.join(known)}{hint}")
    return tuple(p for p in props if p.id in ids)


def design_entry(name: str) -> Entry:
    """A registry entry for a design, so trace tools can rebuild its model from name and parameters."""
    ref = resolve(name)

    def rebuild(kernel: str | None = None, mix: str | None = None, buffers: int | None = None,
                file: str | None = None, importers: int | None = None, config: str | None = None,
                file_sha256: str | None = None, **_: object) -> Model:
        """Rebuild from a model's parameters (trace tools), or from checker.api.check's keywords."""
        if file is not None:
            # a trace names its design file only as a record: opening a trace never runs a file it points at.
            # The file it was recorded from must have been loaded by the user (--model-file), with that content.
            if not ref.digest:
                raise ModelError(f"design {ref.name} is built in, not the file {file!r}: a trace's 'file' parameter "
                                 "is never loaded (check the design file itself to rebuild it)")
            if file_sha256 != ref.digest:
                raise ModelError(f"the trace was recorded from {file} with sha256 {str(file_sha256)[:12]}..., but "
                                 f"{ref.given} now has {ref.digest[:12]}...: a trace's 'file' parameter is never "
                                 "loaded; check the changed file again")
        if _is_driver(ref.design):
            return _build_program(ref, kernel)[0]
        if _is_user_model(ref.design):
            return _build_user_model(ref, kernel=kernel, mix=mix, buffers=buffers, config=config,
                                     importers=importers)[0]
        return build(ref, kernel, mix=mix, importers=None if mix else importers, buffers=buffers, config=config)[0]

    if _is_user_model(ref.design):
        return Entry(ref.name, ref.design.title or ref.name, rebuild, _user_properties(ref), {}, ())
    if _is_driver(ref.design):  # its properties read the compiled program of the model they are given
        from dmabuf_check.properties.kernel_objects import for_driver

        m, info = ref.design.build()
        return Entry(ref.name, ref.design.title or ref.name, rebuild, for_driver(m, info), {}, ())
    # the properties of the design's default check, in catalog order
    _m, _info, default = build(ref, liveness=True)
    from dmabuf_check.properties.catalog import CATALOG

    wanted = {p.id for p in default}
    # a model rebuilt with other parameters may lack the parts a property reads: nothing to check there
    props = tuple(r.bind_with(info_for, absent_holds=True) for r in CATALOG if r.id in wanted)
    return Entry(ref.name, ref.design.title or ref.name, rebuild, props, {}, ref.design.kinds)
