"""The Python API: ``check(...)`` returns the result object a test can assert on.

    from dmabuf_check import check
    assert check("r1", importers=3, kind="dynamic").ok
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from dmabuf_check.checker.explicit.checkpoint import Snapshot
from dmabuf_check.checker.explicit.search import INTERRUPTED, CheckpointPlan, Explorer, Limits, Progress
from dmabuf_check.checker.result import UNKNOWN, CheckResult, Verdict
from dmabuf_check.model.lang import Model
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties.base import LIVENESS, Property

from dmabuf_check.registry import build, entry, is_design, resolve, select, select_design


def check(
    model: str | Model,
    *,
    importers: int | None = None,
    kind: str | None = None,
    variant: str | None = None,
    kernel: str | None = None,
    mix: str | dict[str, int] | None = None,
    buffers: int | None = None,
    config: str | None = None,
    properties: list[str] | tuple[Property, ...] | None = None,
    symmetry: bool = True,
    stop_at_first: bool = True,
    limits: Limits | None = None,
    progress: Callable[[Progress], None] | None = None,
    liveness: bool = False,
) -> CheckResult:
    """Check what ``dmabuf-check check`` checks, with its defaults: a built-in model by name (``"r1"``:
    ``importers`` 3, ``kind`` dynamic, ``variant``), a built-in design, seeded bug or driver program by name,
    or a design or program file by path (``kernel``, ``mix``, ``importers``, ``buffers``, ``config`` as the
    command line takes them; the design's own by default), or a ``Model`` you built with your own
    ``Property`` objects in ``properties``.

    ``properties`` selects property ids (or passes ``Property`` objects for your own model); ``liveness``
    adds the liveness properties. Every mistake raises ``ModelError`` with the command line's one line.
    """
    if isinstance(model, str) and is_design(model):
        for name, value in (("kind", kind), ("variant", variant)):
            if value is not None:
                raise ModelError(f"{name}= applies to r1; a design's importers are chosen with mix= "
                                 "(a seeded bug is a design of its own)")
        ref = resolve(model)
        if isinstance(mix, dict):
            mix = ",".join(f"{k}={n}" for k, n in mix.items())
        m, info, props = build(ref, kernel, mix=mix, importers=importers, buffers=buffers, config=config,
                               liveness=liveness)
        if ref.is_program and liveness:
            from dmabuf_check.properties.kernel_objects import for_driver

            props = for_driver(m, info)
        elif not liveness:
            props = tuple(p for p in props if p.kind != LIVENESS)
        ids = [p for p in properties or () if isinstance(p, str)]
        props = select_design(props, ids or None, ref.name)
    elif isinstance(model, str):
        for name, value in (("kernel", kernel), ("mix", mix), ("buffers", buffers), ("config", config)):
            if value is not None:
                raise ModelError(f"{name}= applies to designs, not to {model}")
        e = entry(model)
        m = e.build(importers=3 if importers is None else importers, kind=kind or "dynamic", variant=variant)
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
        from dmabuf_check.checker.explicit.liveness import LivenessInterruptedError, check_liveness  # on use

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
