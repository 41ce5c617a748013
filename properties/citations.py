"""Which properties check a kernel rule, and under which protocol generations.

The other direction of ``Property.rules``: for ``dmabuf-check explain MIG-4`` and SARIF help, the
properties of R1 and of the design catalog that cite a rule, each with the generations (profiles)
whose design checks include it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmabuf_check.model.profiles import PROFILES
from dmabuf_check.properties import r1
from dmabuf_check.properties.catalog import CATALOG
from dmabuf_check.properties.kernel_objects import RULES as OBJECT_RULES


@dataclass(frozen=True)
class Citation:
    property: str
    meaning: str
    rules: tuple[str, ...]
    source: str
    where: str  # "r1" (the reference model), "designs" or "driver programs"
    generations: tuple[str, ...]  # the profiles a design check includes it under (r1: none)


def all_citations() -> list[Citation]:
    out = [Citation(p.id, p.meaning, p.rules, p.source, "r1", ()) for p in r1.PROPERTIES + r1.LIVENESS_PROPERTIES]
    for r in CATALOG:
        gens = tuple(name for name, prof in PROFILES.items() if r.applies(prof))
        out.append(Citation(r.id, r.meaning, r.rules, r.source, "designs", gens))
    for o in OBJECT_RULES:  # every generation: a driver program's calls carry these checks
        out.append(Citation(o.id, o.meaning, o.rules, o.source, "driver programs", tuple(PROFILES)))
    return out


def citing(rule_id: str) -> list[Citation]:
    return [c for c in all_citations() if rule_id in c.rules]


def generations_for(rule_id: str) -> list[str]:
    """The protocol generations (profiles) that stand for a history rule (HIST-4 is v5.7)."""
    return [name for name, prof in PROFILES.items() if rule_id in prof.history]


def property_citations(property_id: str) -> list[Citation]:
    return [c for c in all_citations() if c.property == property_id]
