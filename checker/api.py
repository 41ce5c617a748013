"""The Python API: ``check(...)`` returns the result object a test can assert on.

    from dmabuf_check import check
    assert check("r1", importers=3, kind="dynamic").ok
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from dmabuf_check.checker.explicit.checkpoint import Snapshot
from dmabuf_check.checker.explicit.liveness import LivenessInterruptedError, check_liveness
from dmabuf_check.checker.explicit.search import INTERRUPTED, CheckpointPlan, Explorer, Limits, Progress
from dmabuf_check.checker.result import UNKNOWN, CheckResult, Verdict
from dmabuf_check.model.lang import Model
from dmabuf_check.properties.base import LIVENESS, Property

from dmabuf_check.registry import entry, select


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
    liveness: bool = False,
) -> CheckResult:
    """Check a built-in model by name (``"r1"``) or a ``Model`` you built.

    ``properties`` selects property ids of a built-in model, or passes
    ``Property`` objects for your own model; ``liveness`` adds the built-in
    model's liveness properties to the default selection.
    """
    if isinstance(model, str):
        e = entry(model)
        m = e.build(importers=importers, kind=kind, variant=variant)
        props = select(e, list(properties) if properties else None, liveness)  # type: ignore[arg-type]
    else:
        m = model
        props = tuple(properties or ())  # type: ignore[arg-type]
    return check_model(m, props, symmetry=symmetry, stop_at_first=stop_at_first, limits=limits, progress=progress)


def check_model(
    model: Model,
    props: Sequence[Property],
    *,
    symmetry: bool = True,
    stop_at_first: bool = True,
    limits: Limits | None = None,
    progress: Callable[[Progress], None] | None = None,
    phase: Callable[[str], None] | None = None,
    checkpoint_plan: CheckpointPlan | None = None,
    resume: Snapshot | None = None,
) -> CheckResult:
    """Safety properties by breadth-first search, then liveness properties on the state graph
    (``phase`` is told when that second search starts). The breadth-first search writes checkpoints with
    ``checkpoint_plan`` and continues one with ``resume`` (``checker.explicit.checkpoint``)."""
    safety = [p for p in props if p.kind != LIVENESS]
    explorer = Explorer(model, safety, symmetry=symmetry)
    if resume is not None:
        explorer.check_resumable(resume)  # refused before anything is said of resuming it
        if phase is not None:
            phase(f"resuming: {resume.summary()}")
    result = explorer.run(stop_at_first=stop_at_first, limits=limits, progress=progress,
                          checkpoint_plan=checkpoint_plan, resume=resume)
    live = [p for p in props if p.kind == LIVENESS]
    if live and not (stop_at_first and result.violated):
        t0 = time.perf_counter()
        limits = limits or Limits()
        if phase is not None:
            phase(f"liveness: {len(live)} properties on the full state graph (fair lassos)")
        try:
            verdicts = check_liveness(model, live, max_states=limits.max_states, time_limit=limits.time_limit)
        except LivenessInterruptedError as e:  # Ctrl-C: keep the safety verdicts and the liveness ones decided
            verdicts = e.verdicts
            result.complete, result.stop_reason = False, INTERRUPTED
        result.seconds += time.perf_counter() - t0
        result.verdicts += verdicts
        if any(v.status == UNKNOWN for v in verdicts):
            result.complete = False
            result.stop_reason = result.stop_reason or "liveness: state graph cut short by a limit"
    elif live:
        result.verdicts += [Verdict(p.id, p.meaning, list(p.rules), UNKNOWN, note="search stopped at the first violation")
                            for p in live]
    order = {p.id: n for n, p in enumerate(props)}
    result.verdicts.sort(key=lambda v: order[v.property])
    return result
