"""Designs the command line knows by name: the built-in exporters and the seeded-bug library.

``resolve(ref)`` accepts a design name (``ttm-vram``, ``bug-no-move-notify``)
or a design file path; ``build(...)`` turns it into a model and the catalog
properties that apply under the chosen profile. ``entry(name)`` gives the
registry-style entry trace tools use to rebuild a design model from its name
and parameters.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import weakref
from dataclasses import dataclass
from functools import lru_cache

from model.components.context import BuildInfo
from model.compose import build as compose
from model.design import Bug, Design
from model.design_loader import design_of, load_design_file
from model.expr import lift
from model.lang import Model
from model.profiles import profile
from model.types import ModelError
from properties.base import Property
from properties.catalog import CATALOG, for_model


@dataclass(frozen=True)
class DesignRef:
    name: str
    design: Design
    source: str  # the file it is defined in
    bug: Bug | None = None


def _load_module(modname: str) -> DesignRef:
    mod = importlib.import_module(modname)
    d, bug, _ = design_of(mod, modname)
    return DesignRef(d.name, d, os.path.abspath(mod.__file__ or modname), bug)


@lru_cache(maxsize=1)
def builtin() -> dict[str, DesignRef]:
    from model import designs

    refs = [_load_module(f"model.designs.{m}") for m in designs.BUILTIN]
    return {r.name: r for r in refs}


@lru_cache(maxsize=1)
def bugs() -> dict[str, DesignRef]:
    import model.designs.bugs as pkg

    mods = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
    refs = [_load_module(f"model.designs.bugs.{m}") for m in mods]
    return {r.name: r for r in refs}


_FILES: dict[str, DesignRef] = {}  # design files loaded in this process, by design name
_INFO: weakref.WeakKeyDictionary[Model, BuildInfo] = weakref.WeakKeyDictionary()  # what each built model knows


def info_for(model: Model) -> BuildInfo:
    """The BuildInfo of a design model built by ``build`` (properties of a rebuilt model need it)."""
    if model not in _INFO:
        raise ModelError(f"model {model.name} was not built from a design by this registry")
    return _INFO[model]


def is_design(ref: str) -> bool:
    return ref.endswith(".py") or ref in builtin() or ref in bugs() or ref in _FILES


def resolve(ref: str) -> DesignRef:
    if ref.endswith(".py"):
        d, bug, _ = load_design_file(ref)
        r = DesignRef(d.name, d, os.path.abspath(ref), bug)
        _FILES[d.name] = r
        return r
    for table in (builtin(), bugs(), _FILES):
        if ref in table:
            return table[ref]
    raise ModelError(f"unknown design {ref!r}; built-in designs: {', '.join(builtin())} "
                     "(seeded bugs: dmabuf-check list --bugs)")


def build(ref: DesignRef, kernel: str | None = None, *, mix: str | None = None, importers: int | None = None,
          buffers: int | None = None) -> tuple[Model, BuildInfo, tuple[Property, ...]]:
    """The model of a design under a profile, and every catalog property that applies to it."""
    bug = ref.bug
    kernel = kernel or (bug.kernel if bug else None)
    if mix is None and importers is None and bug is not None:
        mix = bug.mix
    if buffers is None and bug is not None:
        buffers = bug.buffers
    m, info = compose(ref.design, kernel, mix=mix, importers=importers, buffers=buffers, source=ref.source)
    if ref.source and ref.name in _FILES:
        m.params["file"] = ref.source
    _INFO[m] = info
    return m, info, for_model(m, info, profile(str(m.params["kernel"])))


def select(props: tuple[Property, ...], ids: list[str] | None, name: str) -> tuple[Property, ...]:
    if not ids:
        return props
    known = {p.id: p for p in props}
    for i in ids:
        if i not in known:
            raise ModelError(f"unknown property {i!r} for design {name}; known: {', '.join(known)}")
    return tuple(p for p in props if p.id in ids)


def entry(name: str):
    """A registry entry for a design, so trace tools can rebuild its model from name and parameters."""
    from properties.registry import Entry

    ref = resolve(name)

    def rebuild(kernel: str | None = None, mix: str | None = None, buffers: int | None = None,
                file: str | None = None, importers: int | None = None, **_: object) -> Model:
        """Rebuild from a model's parameters (trace tools), or from checker.api.check's keywords."""
        r = resolve(file) if file else ref
        return build(r, kernel, mix=mix, importers=None if mix else importers, buffers=buffers)[0]

    def bound(r):
        fn = r.predicate
        if fn is None:
            return None

        def predicate(m: Model):
            info = info_for(m)
            # a model built with other parameters may lack the parts a property reads: nothing to check there
            return fn(m, info) if r.present(m, info) else lift(True)
        return predicate

    # the properties of the design's default check, in catalog order
    _m, _info, default = build(ref)
    wanted = {p.id for p in default}
    props = tuple(Property(r.id, r.meaning, r.rules, r.source, kind=r.kind, build=bound(r))
                  for r in CATALOG if r.id in wanted)
    return Entry(ref.name, ref.design.title or ref.name, rebuild, props, {}, ref.design.kinds)
