"""What a property is: an id, a one-line meaning, the kernel rule, and how to check it.

Two kinds exist. An *invariant* is a state predicate built from the model's
own variables (the wait-for-cycle property is one too: ``properties.waitfor``
turns the model's lock and wait declarations into the predicate "no cycle").
A *deadlock* property (no-stuck-state) is about the set of enabled actions,
which the engine knows and a predicate does not. A *liveness* property says
"p leads to q" under weak fairness of some actions; it is checked on the
state graph (``checker.explicit.liveness``) and violated by a lasso.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dmabuf_check.model.expr import Expr
from dmabuf_check.model.lang import Model

INVARIANT = "invariant"
DEADLOCK = "deadlock"
LIVENESS = "liveness"


@dataclass(frozen=True)
class Property:
    """A checkable property of a model."""

    id: str
    meaning: str
    rules: tuple[str, ...]  # rule ids of spec/rules.md (MIG-4, REF-10, ...)
    source: str  # where the kernel states the rule
    kind: str = INVARIANT
    build: Callable[[Model], Expr] | None = None  # the state predicate, for invariants
    # liveness "p leads to q" (always p => eventually q), one (p, q) pair per instance
    # (one per importer, say), under weak fairness of the named actions
    leads_to: Callable[[Model], list[tuple[Expr, Expr]]] | None = None
    fairness: tuple[str, ...] = ()
    # strong fairness: enabled infinitely often => taken infinitely often (a lock waiter, a device's completion);
    # the action names, or a function of the model that names them (a design's depend on its build)
    strong_fairness: tuple[str, ...] | Callable[[Model], tuple[str, ...]] = ()

    # the only actions a violating lasso's loop may take (None: any). A design's liveness assumes the
    # environment eventually starts no new call, so its loops are the system's own steps
    loop_actions: tuple[str, ...] | Callable[[Model], tuple[str, ...]] | None = None

    def loop_of(self, model: Model) -> tuple[str, ...] | None:
        return None if self.loop_actions is None else _names(self.loop_actions, model)

    def strongly_fair(self, model: Model) -> tuple[str, ...]:
        return _names(self.strong_fairness, model)

    def predicate(self, model: Model) -> Expr:
        if self.build is None:
            raise ValueError(f"property {self.id} is not a state predicate")
        return self.build(model)

    def describe(self) -> dict[str, object]:
        return {"id": self.id, "meaning": self.meaning, "rules": list(self.rules), "source": self.source,
                "kind": self.kind}


def _names(spec: tuple[str, ...] | Callable[[Model], tuple[str, ...]], model: Model) -> tuple[str, ...]:
    return tuple(spec(model)) if callable(spec) else tuple(spec)
