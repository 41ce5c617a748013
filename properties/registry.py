"""The built-in models the command line knows, with their properties and parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from model import r1
from model.lang import Model
from model.types import ModelError
from properties import r1 as r1_props
from properties.base import LIVENESS, Property


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
        from properties import design_registry  # exporter designs by name (built-ins, seeded bugs)

        if design_registry.is_design(name):
            return design_registry.entry(name)
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
