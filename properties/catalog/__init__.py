"""The rule catalog as checkable properties of design models.

``CATALOG`` lists every rule of spec/rules.md that a state predicate or the
wait-for graph expresses, with its rule ids and kernel source;
``applicable(profile)`` is what ``dmabuf-check list --properties --profile``
shows; ``for_model(model, info, profile)`` binds the ones that apply to a
built design model (a property whose parts the model lacks, e.g. vmap
counting for a design without vmap, is left out rather than checked
vacuously).
"""

from __future__ import annotations

from dmabuf_check.model.components.context import BuildInfo
from dmabuf_check.model.lang import Model
from dmabuf_check.model.profiles import Profile
from dmabuf_check.properties.base import LIVENESS, Property
from dmabuf_check.properties.catalog import fences, lifecycle, liveness, locking, mapping
from dmabuf_check.properties.catalog.base import Rule

CATALOG: tuple[Rule, ...] = lifecycle.RULES + mapping.RULES + fences.RULES + locking.RULES + liveness.RULES


def applicable(p: Profile) -> tuple[Rule, ...]:
    return tuple(r for r in CATALOG if r.applies(p))


def for_model(model: Model, info: BuildInfo, p: Profile, *, liveness: bool = False) -> tuple[Property, ...]:
    """The catalog's properties of a built design; the liveness ones only when asked (they need the whole
    state graph: ``check --liveness``)."""
    return tuple(r.bind(model, info) for r in applicable(p)
                 if (liveness or r.kind != LIVENESS) and r.present(model, info))


def rule(rule_id: str) -> Rule:
    for r in CATALOG:
        if r.id == rule_id:
            return r
    raise KeyError(rule_id)
