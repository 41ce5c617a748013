"""Catalog entries: a property of the rule catalog, when it applies, and how to build its predicate.

A ``Rule`` is what ``dmabuf-check list --properties`` shows: id, one-line
meaning, rule ids of spec/rules.md, kernel source, and which protocol
generations it applies to. ``bind(model, info)`` turns it into an ordinary
``Property`` of one built model; its predicate may read the ``BuildInfo``
(which actions are a map's completion, what an action is about to acquire),
never the checker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dmabuf_check.model.components.context import BuildInfo, StepInfo
from dmabuf_check.model.expr import Expr, Param, disj, exists, lift, subst
from dmabuf_check.model.lang import Model
from dmabuf_check.model.profiles import Profile
from dmabuf_check.properties.base import INVARIANT, Property


@dataclass(frozen=True)
class Rule:
    id: str
    meaning: str
    rules: tuple[str, ...]
    source: str
    predicate: Callable[[Model, BuildInfo], Expr] | None = None
    applies: Callable[[Profile], bool] = lambda p: True
    present: Callable[[Model, BuildInfo], bool] = lambda m, info: True  # the model has the parts it reads
    kind: str = INVARIANT
    # a liveness rule: its "p leads to q" pairs and the actions it holds strongly fair, from the built model
    leads_to: Callable[[Model, BuildInfo], list[tuple[Expr, Expr]]] | None = None
    strong_fairness: Callable[[Model, BuildInfo], tuple[str, ...]] | None = None
    loop_actions: Callable[[Model, BuildInfo], tuple[str, ...]] | None = None

    def bind(self, model: Model, info: BuildInfo) -> Property:
        """The property of one built model (``info`` is its BuildInfo)."""
        return self.bind_with(lambda _m: info)

    def bind_with(self, info_of: Callable[[Model], BuildInfo], *, absent_holds: bool = False) -> Property:
        """The property, reading the BuildInfo of whatever model it is given through ``info_of`` (a trace tool
        rebuilds models); ``absent_holds``: on a model that lacks the parts the rule reads, it holds."""
        fn, pairs, sf, la = self.predicate, self.leads_to, self.strong_fairness, self.loop_actions

        def build(m: Model) -> Expr:
            info = info_of(m)
            return lift(True) if absent_holds and not self.present(m, info) else fn(m, info)  # type: ignore[misc]
        return Property(self.id, self.meaning, self.rules, self.source, kind=self.kind,
                        build=build if fn is not None else None,
                        leads_to=(lambda m: pairs(m, info_of(m))) if pairs is not None else None,
                        strong_fairness=(lambda m: sf(m, info_of(m))) if sf is not None else (),
                        loop_actions=(lambda m: la(m, info_of(m))) if la is not None else None)


def has(model: Model, name: str) -> bool:
    return any(v.name == name for v in model.variables)


def var(model: Model, base: str, b: int, buffers: int):
    name = base if buffers == 1 else f"{base}_b{b}"
    v = model.variable(name)
    return v if v.index is not None else v.ref()


def vname(base: str, b: int, buffers: int) -> str:
    return base if buffers == 1 else f"{base}_b{b}"


def somewhere(model: Model, step: StepInfo, cond: Expr | Callable[[Param], Expr]) -> Expr:
    """``cond`` holds for some binding of the step's importer (cond may use the step's parameter)."""
    if step.param is None:
        return cond if isinstance(cond, Expr) else cond(None)  # type: ignore[arg-type]
    p = step.param
    body = cond if isinstance(cond, Expr) else cond(p)
    return exists(model.index_sets["importers"], lambda j: subst(body, {p: j}), "k")


def any_step(model: Model, steps: list[StepInfo], cond: Callable[[StepInfo], Expr]) -> Expr:
    return disj(*(somewhere(model, s, cond(s)) for s in steps))

