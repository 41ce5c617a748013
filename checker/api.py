"""The Python API: ``check(...)`` returns the result object a test can assert on.

    from checker import check
    assert check("r1", importers=3, kind="dynamic").ok
"""

from __future__ import annotations

from collections.abc import Callable

from checker.explicit import Limits, Progress, explore
from checker.result import CheckResult
from model.lang import Model
from properties.base import Property
from properties.registry import entry, select


def check(
    model: str | Model,
    *,
    importers: int = 2,
    kind: str = "dynamic",
    variant: str | None = None,
    properties: list[str] | tuple[Property, ...] | None = None,
    symmetry: bool = True,
    stop_at_first: bool = True,
    limits: Limits | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> CheckResult:
    """Check a built-in model by name (``"r1"``) or a ``Model`` you built.

    ``properties`` selects property ids of a built-in model, or passes
    ``Property`` objects for your own model.
    """
    if isinstance(model, str):
        e = entry(model)
        m = e.build(importers=importers, kind=kind, variant=variant)
        props = select(e, list(properties) if properties else None)  # type: ignore[arg-type]
    else:
        m = model
        props = tuple(properties or ())  # type: ignore[arg-type]
    return explore(m, props, symmetry=symmetry, stop_at_first=stop_at_first, limits=limits, progress=progress)
