"""Counterexample traces of every R1 seeded-bug variant, shared by the tests of traces/."""

from __future__ import annotations

import functools
import os

from dmabuf_check.checker.explicit.liveness import check_liveness
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.model import r1
from dmabuf_check.properties.r1 import LIVENESS_PROPERTIES, PROPERTIES
from dmabuf_check.traces.evaluate import Judge, from_counterexample, from_instances
from dmabuf_check.traces.format import Trace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# every variant with every importer kind it is defined for (N=2)
CASES = [("B1", "static"), ("B2", "dynamic"), ("B3", "dynamic"), ("B4", "dynamic"),
         ("B5", "static"), ("B5", "dynamic"), ("B6", "static"), ("B6", "dynamic")]
CASE_IDS = [f"{v}-{k}" for v, k in CASES]


@functools.cache
def bfs_trace(variant: str, kind: str, importers: int = 2) -> Trace:
    """The shortest counterexample BFS finds for the variant (the property the spec names)."""
    model = r1.build(importers, kind, variant)
    result = explore(model, PROPERTIES)
    (verdict,) = result.violated
    return from_counterexample(verdict.counterexample, model, engine=result.engine)


@functools.cache
def lasso_trace(prop: str) -> Trace:
    """B4's liveness counterexample (a fair lasso) for ``prop`` (fence-signals or move-completes)."""
    model = r1.build(2, "dynamic", "B4")
    verdicts = {v.property: v for v in check_liveness(model, list(LIVENESS_PROPERTIES))}
    return from_counterexample(verdicts[prop].counterexample, model, engine="explicit-liveness")


def padded(trace: Trace, pad_at: dict[int, list[tuple[str, tuple[int, ...]]]]) -> Trace:
    """``trace`` with irrelevant steps inserted: pad_at[k] goes before original step k (0-based)."""
    judge = Judge.for_trace(trace)
    moves: list[tuple[str, tuple[int, ...]]] = []
    for k, s in enumerate(trace.steps):
        moves += pad_at.get(k, [])
        moves.append((s.action, tuple(s.params)))
    moves += pad_at.get(len(trace.steps), [])
    ks = [judge.c.instance_index(a, tuple(m - 1 for m in p)) for a, p in moves]
    return from_instances(judge, ks, loop=None, like=trace)
