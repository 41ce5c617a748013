"""Small random models written in the modeling language, for differential testing.

Each model has variables of every type shape the language has: 0/1, ranges
from 0, ranges below 0 (stored with an offset by the explicit engine), a wide
range of more than 200 values, two enumerations that share a label so
comparisons and copies between them go through ``enum_cast``, a large
enumeration, references with one to three specials, and per-member arrays of
each kind; a symmetric index set of 1-3 members; 2-5 actions with random
guards and sequential effects (constants, copies, ``x + 1`` / ``x - y`` that
can leave their range, conditional ``when`` effects, ``for_each`` effects,
counts and sums); and a random state predicate over every operator (``==``,
``!=``, ``<``, ``<=``, ``>``, ``>=``, ``+``, ``-``, and/or/not/implies, ite,
forall/exists/count/sum). Everything a
model says is built with the same API the R1 model uses, so the explicit
engine and the z3 encodings read exactly the same trees.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from dmabuf_check.model.expr import Expr, Param, conj, count, disj, exists, forall, ite, sum_of
from dmabuf_check.model.lang import Assign, Model, assign, for_each, when
from dmabuf_check.model.types import BOOL, Enum, Range, Ref
from dmabuf_check.properties.base import Property

COLORS = ("RED", "GREEN", "BLUE")
PHASES = ("IDLE", "RED", "DONE")  # shares RED with COLORS
LEVELS = tuple(f"L{k}" for k in range(12))  # a large enumeration
SPECIALS = ("NONE", "EXP", "SIG")
WIDE = (-120, 120)  # 241 values: near the explicit engine's 256-value slot


class RandomModel:
    """One random model and its predicate."""

    def __init__(self, seed: int):
        self.rng = rng = random.Random(seed)
        self.seed = seed
        self.n = n = rng.choice((1, 1, 2, 2, 2, 3))
        m = self.model = Model("random", f"random model {seed}", params={"importers": n, "seed": seed})
        self.I = I = m.index_set("procs", n, "proc")  # noqa: E741 - the index set, as in the models
        self.hi = rng.choice((2, 3))
        self.gb = m.var("gb", BOOL, rng.randint(0, 1))
        self.gr = m.var("gr", Range(0, self.hi), rng.randint(0, self.hi))
        self.ge = m.var("ge", Enum("color", *COLORS), rng.choice(COLORS))
        self.specials = SPECIALS[:rng.randint(1, 3)]
        self.go = m.var("go", Ref(I, *self.specials), rng.choice(self.specials)) if rng.random() < 0.7 else None
        self.slo = rng.randint(-3, -1)  # a range below zero: a refcount that may underflow
        self.shi = self.slo + rng.randint(1, 4)
        self.gs = m.var("gs", Range(self.slo, self.shi), rng.randint(self.slo, self.shi))
        self.gw = m.var("gw", Range(*WIDE), rng.choice((-120, -1, 0, 37, 120))) if rng.random() < 0.35 else None
        self.gl = m.var("gl", Enum("level", *LEVELS), rng.choice(LEVELS)) if rng.random() < 0.5 else None
        self.mb = m.array("mb", I, BOOL, rng.randint(0, 1))
        self.me = m.array("me", I, Enum("phase", *PHASES), "IDLE")
        self.mr = m.array("mr", I, Range(0, 2), 0) if n < 3 and rng.random() < 0.5 else None
        self.ms = m.array("ms", I, Range(-2, 1), rng.randint(-2, 1)) if n < 3 and rng.random() < 0.5 else None
        self.mo = m.array("mo", I, Ref(I, "NONE"), "NONE") if n < 3 and rng.random() < 0.3 else None
        for k in range(rng.randint(2, 5)):
            self._action(f"a{k}")
        self.predicate = self.cond(None, 2)

    # ---- expressions -----------------------------------------------------
    def atom(self, i: Param | None) -> Expr:
        """A random comparison; per-member atoms use ``i`` or a quantifier."""
        rng, procs = self.rng, self.I
        choices: list[Callable[[], Expr]] = [
            lambda: self.gb == rng.randint(0, 1),
            lambda: self.gr == rng.randint(0, self.hi),
            lambda: self.gr < rng.randint(1, self.hi),
            lambda: self.ge == rng.choice(COLORS),
            lambda: count(procs, lambda j: self.mb[j] == 1) >= rng.randint(0, self.n),
            lambda: forall(procs, lambda j: self.member_atom(j)),
            lambda: exists(procs, lambda j: self.member_atom(j)),
            lambda: self.gs == rng.randint(self.slo, self.shi),
            lambda: self.gs < rng.randint(self.slo, self.shi),
            lambda: self.gs >= rng.randint(self.slo, self.shi),
            lambda: self.gs != 0,
            lambda: self.gs + self.gr <= rng.randint(self.slo, self.hi + self.shi),
            lambda: self.gr - self.gs > rng.randint(0, 3),
            lambda: self.gs < self.gr,
            lambda: (self.gb == 1).implies(self.gs >= 0),
            lambda: ite(self.gb == 1, self.gs, self.gr) > 0,
        ]
        if self.go is not None:
            choices.append(lambda: self.go == rng.choice(self.specials))
            choices.append(lambda: self.go != "NONE")
        if self.gw is not None:
            choices += [lambda: self.gw < rng.randint(-120, 120), lambda: self.gw == rng.choice((-120, 0, 37, 120)),
                        lambda: self.gw - self.gs >= 100]
        if self.gl is not None:
            choices += [lambda: self.gl == rng.choice(LEVELS), lambda: self.gl != rng.choice(LEVELS)]
        if self.ms is not None:
            choices += [lambda: sum_of(procs, lambda j: self.ms[j]) >= rng.randint(-3, 1),
                        lambda: sum_of(procs, lambda j: self.ms[j]) < self.gs]
        if i is not None:
            choices += [lambda: self.member_atom(i)] * 3
            if self.go is not None:
                choices.append(lambda: self.go == i)
        return rng.choice(choices)()

    def member_atom(self, j: Param) -> Expr:
        rng = self.rng
        choices: list[Callable[[], Expr]] = [
            lambda: self.mb[j] == rng.randint(0, 1),
            lambda: self.me[j] == rng.choice(PHASES),
            lambda: self.me[j] == self.ge,  # compared by label (enum_cast)
        ]
        if self.mr is not None:
            choices.append(lambda: self.mr[j] <= self.gr)
        if self.ms is not None:
            choices += [lambda: self.ms[j] < 0, lambda: self.ms[j] == self.gs, lambda: self.ms[j] - self.gs >= 1]
        if self.mo is not None:
            choices += [lambda: self.mo[j] == "NONE", lambda: self.mo[j] == j]
            if self.go is not None and self.specials == ("NONE",):  # the same reference type
                choices.append(lambda: self.mo[j] == self.go)
        return rng.choice(choices)()

    def cond(self, i: Param | None, depth: int) -> Expr:
        rng = self.rng
        if depth == 0 or rng.random() < 0.4:
            a = self.atom(i)
            return ~a if rng.random() < 0.25 else a
        parts = [self.cond(i, depth - 1) for _ in range(rng.randint(2, 3))]
        return conj(*parts) if rng.random() < 0.6 else disj(*parts)

    # ---- effects ------------------------------------------------------------
    def value_bool(self, i: Param | None) -> Expr:
        rng = self.rng
        options: list[Callable[[], object]] = [lambda: rng.randint(0, 1), lambda: ite(self.cond(i, 1), 1, 0),
                                               lambda: 1 - self.gb]
        if i is not None:
            options.append(lambda: self.mb[i])
        return options[rng.randrange(len(options))]()  # type: ignore[return-value]

    def value_range(self, hi: int, target: Expr, i: Param | None, lo: int = 0) -> object:
        rng = self.rng
        options: list[Callable[[], object]] = [
            lambda: rng.randint(lo, hi),
            lambda: target + 1,  # may leave the range: a domain error
            lambda: target - 1,
            lambda: ite(target < hi, target + 1, lo),
            lambda: count(self.I, lambda j: self.mb[j] == 1),  # 0..n: may exceed a small range
        ]
        if lo < 0:
            options += [lambda: target - self.gr,  # may fall below the range: a domain error
                        lambda: ite(target > lo, target - 1, hi),
                        lambda: self.gs]
            if self.ms is not None:
                options.append(lambda: sum_of(self.I, lambda j: self.ms[j]))
        return options[rng.randrange(len(options))]()

    def _assignments(self, i: Param | None) -> list[Assign]:
        rng = self.rng
        targets: list[tuple[Expr, str]] = [(self.gb, "bool"), (self.gr, "range"), (self.ge, "color"),
                                           (self.gs, "signed")]
        if self.go is not None:
            targets.append((self.go, "ref"))
        if self.gw is not None:
            targets.append((self.gw, "wide"))
        if self.gl is not None:
            targets.append((self.gl, "level"))
        if i is not None:
            targets += [(self.mb[i], "bool"), (self.me[i], "phase")] * 2
            if self.mr is not None:
                targets.append((self.mr[i], "mrange"))
            if self.ms is not None:
                targets.append((self.ms[i], "msigned"))
            if self.mo is not None:
                targets.append((self.mo[i], "mref"))
        out: list[Assign] = []
        for _ in range(rng.randint(1, 3)):
            target, kind = rng.choice(targets)
            value = self._value(kind, target, i)
            if rng.random() < 0.25:
                out.append(when(self.cond(i, 1), target, value))  # type: ignore[arg-type]
            else:
                out.append(assign(target, value))  # type: ignore[arg-type]
        return out

    def _value(self, kind: str, target: Expr, i: Param | None) -> object:
        rng = self.rng
        if kind == "bool":
            return self.value_bool(i)
        if kind == "range":
            return self.value_range(self.hi, target, i)
        if kind == "mrange":
            return self.value_range(2, target, i)
        if kind == "signed":
            return self.value_range(self.shi, target, i, self.slo)
        if kind == "msigned":
            return self.value_range(1, target, i, -2)
        if kind == "wide":
            # big jumps only (constants, +-60): few values reachable, so the models stay shallow
            return rng.choice([lambda: rng.choice(WIDE + (0, 37)), lambda: target + 60, lambda: target - 60,
                               lambda: ite(target < 0, target + 120, target - 120)])()
        if kind == "level":
            return rng.choice([lambda: rng.choice(LEVELS), lambda: ite(self.cond(i, 1), rng.choice(LEVELS), self.gl)])()
        if kind == "mref":
            return rng.choice(["NONE", i] + ([self.go] if self.go is not None and self.specials == ("NONE",) else []))
        if kind == "color":
            options = [lambda: rng.choice(COLORS), lambda: ite(self.cond(i, 1), rng.choice(COLORS), self.ge)]
            if i is not None:
                options.append(lambda: self.me[i])  # a phase read as a color: IDLE/DONE have none (domain error)
            return rng.choice(options)()
        if kind == "phase":
            return rng.choice([lambda: rng.choice(PHASES), lambda: self.ge])()  # ge by label (enum_cast)
        return rng.choice(list(self.specials) + ([i] if i is not None else []))  # ref

    def _action(self, name: str) -> None:
        rng, m = self.rng, self.model
        if rng.random() < 0.6:
            i = Param("i", self.I)
            effects: list = self._assignments(i)
            m.action(name, self.cond(i, 1), effects, params=(i,), actor="procs")
        else:
            effects = self._assignments(None)
            if rng.random() < 0.4:
                effects.append(for_each(self.I, lambda j: [assign(self.mb[j], ite(self.me[j] == "DONE", 1, self.mb[j])),
                                                           when(self.gb == 1, self.me[j], "IDLE")]))
            if self.ms is not None and rng.random() < 0.4:
                effects.append(for_each(self.I, lambda j: [when(self.ms[j] > -2, self.ms[j], self.ms[j] - 1)]))
            m.action(name, self.cond(None, 1), effects)

    def property(self) -> Property:
        pred = self.predicate
        return Property("random", "a random predicate", (), "tests/random_models.py", build=lambda _m: pred)
