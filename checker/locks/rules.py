"""Locking rules: the kernel's documented order, plus a driver's own rules from a TOML file.

Built in (spec/rules.md RESV-L1, RESV-L2, SIG-3, SIG-4):

- the order dma_resv_lockdep() primes: mmap_lock -> reservation acquire
  context -> reservation lock -> fs_reclaim -> {i_mmap_rwsem, mmu notifier ->
  fence wait}; fence waits are therefore allowed under a reservation lock, in
  reclaim and in mmu notifiers;
- a fence signalling section may take no reservation lock, wait on no fence,
  allocate nothing that may reclaim, and take no fault.

A rules file adds a driver's locks, orders, forbidden pairs and signalling
paths::

    locks = ["vm_lock", "notifier_lock"]         # the design's own locks
    order = [["vm_lock", "resv", "notifier_lock"]]  # each list outermost first
    signalling = ["irq_done"]                    # actions that run in a signalling section

    [[forbid]]
    held = "notifier_lock"
    acquire = "fs_reclaim"
    why = "the notifier runs under reclaim"

A file that does not parse, names a lock the design does not have, or
contradicts itself (or the built-in order) is rejected before any search.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dmabuf_check.model.lang import Model
from dmabuf_check.model.lockdep_names import PRIMED_EDGES, PSEUDO_LOCKS, RESV_CLASS, SIGNALLING_FORBIDDEN
from dmabuf_check.model.profiles import lockdep_primed
from dmabuf_check.model.types import ModelError
from dmabuf_check.model.userfiles import read_bytes


class RulesError(ModelError):
    """A rules file is malformed or contradicts itself (exit code 2)."""


BUILTIN = "RESV-L1"
RULES_LIMIT = 1 << 20  # a driver's locking rules are a page or two


@dataclass(frozen=True)
class Forbid:
    held: str
    acquire: str
    why: str
    source: str


@dataclass
class RuleSet:
    """Lock names as rules use them: pseudo-locks, ``resv`` for every reservation lock, driver lock names."""

    locks: set[str] = field(default_factory=lambda: set(PSEUDO_LOCKS) | {"resv"})
    before: dict[tuple[str, str], str] = field(default_factory=dict)  # (outer, inner) -> source, closed
    forbid: list[Forbid] = field(default_factory=list)
    signalling: set[str] = field(default_factory=set)  # action names that run in a signalling section
    files: list[str] = field(default_factory=list)

    @classmethod
    def builtin(cls, primed: tuple[tuple[str, str], ...] = PRIMED_EDGES) -> RuleSet:
        rs = cls()
        for a, b in primed:  # the order lockdep is primed with (in the generation checked) is the order enforced
            rs._add_order(a, b, BUILTIN)
        return rs

    def _add_order(self, outer: str, inner: str, source: str) -> None:
        """Add ``outer`` before ``inner`` and keep ``before`` transitively closed (so one check finds any cycle)."""
        if outer == inner:
            raise RulesError(f"{source}: {outer} cannot come before itself")
        if (inner, outer) in self.before:
            raise RulesError(f"{source}: {outer} before {inner} contradicts {inner} before {outer} "
                             f"({self.before[(inner, outer)]})")
        ups = {a for (a, b) in self.before if b == outer} | {outer}
        downs = {b for (a, b) in self.before if a == inner} | {inner}
        for a in ups:
            for b in downs:
                self.before.setdefault((a, b), source)

    def breaks(self, held: str, acquired: str, held_for_read: bool) -> list[str]:
        """Messages for every rule that taking ``acquired`` while holding ``held`` breaks."""
        out = []
        if held == "dma_fence_map" and held_for_read and acquired in SIGNALLING_FORBIDDEN:
            out.append(SIGNALLING_FORBIDDEN[acquired])
        elif (acquired, held) in self.before:
            out.append(f"{acquired} must be taken before {held} ({self.before[(acquired, held)]})")
        for f in self.forbid:
            if f.held == held and f.acquire == acquired:
                out.append(f"{acquired} must not be taken under {held}: {f.why} ({f.source})")
        return out


def rule_name(model: Model, instance: str) -> str:
    """How rules name a lock instance: every reservation lock is ``resv``."""
    for lk in model.locks:
        if lk.name == instance and lk.lock_class == RESV_CLASS:
            return "resv"
    return instance


def load(path: str | Path | None, model: Model) -> RuleSet:
    """The built-in rules plus those of ``path`` (if given), checked against ``model``."""
    rs = RuleSet.builtin(lockdep_primed(model.params.get("kernel", "")))
    if path is None:
        return rs
    p = Path(path)
    src = str(p)
    raw = read_bytes(p, "rules file", RULES_LIMIT, RulesError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:  # TOML is UTF-8 (toml.io: "A TOML file must be a valid UTF-8 document")
        raise RulesError(f"rules file {src} is not UTF-8 text (byte {e.start}); TOML files are UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RulesError(f"rules file {src} does not parse: {e}") from None
    except RecursionError:
        raise RulesError(f"rules file {src} nests arrays or tables too deeply to be a rules file") from None
    rs.files.append(src)
    unknown = set(data) - {"locks", "order", "forbid", "signalling"}
    if unknown:
        raise RulesError(f"{src}: unknown key {sorted(unknown)[0]!r} (expected locks, order, forbid, signalling)")
    model_locks = {lk.name for lk in model.locks}
    driver = data.get("locks", [])
    if not _str_list(driver):
        raise RulesError(f"{src}: locks must be a list of lock names")
    for name in driver:
        if name not in model_locks:
            raise RulesError(f"{src}: lock {name!r} is not a lock of the design (it has: "
                             f"{', '.join(sorted(model_locks)) or 'none'})")
        rs.locks.add(name)

    def known(name: object, where: str) -> str:
        if not isinstance(name, str) or not name:
            raise RulesError(f"{src}: {where} must name a lock, got {name!r}")
        if name not in rs.locks:
            raise RulesError(f"{src}: {where} names unknown lock {name!r}; declare it in 'locks' or use one of "
                             f"{', '.join(sorted(rs.locks))}")
        return name

    order = data.get("order", [])
    if not isinstance(order, list) or not all(_str_list(chain) for chain in order):
        raise RulesError(f"{src}: order must be a list of lists of lock names, outermost first")
    for n, chain in enumerate(order, 1):
        if len(set(chain)) != len(chain):
            twice = next(x for x in chain if chain.count(x) > 1)
            raise RulesError(f"{src}: order #{n} names lock {twice!r} twice")
        for a, b in zip(chain, chain[1:]):
            rs._add_order(known(a, f"order #{n}"), known(b, f"order #{n}"), src)
    forbid = data.get("forbid", [])
    if not isinstance(forbid, list):
        raise RulesError(f"{src}: forbid must be an array of tables [[forbid]] with held, acquire, why")
    for n, f in enumerate(forbid, 1):
        if not isinstance(f, dict) or set(f) - {"held", "acquire", "why"} or "held" not in f or "acquire" not in f:
            raise RulesError(f"{src}: forbid #{n} needs exactly held, acquire and an optional why")
        held, acq = known(f["held"], f"forbid #{n} held"), known(f["acquire"], f"forbid #{n} acquire")
        if (held, acq) in rs.before:
            raise RulesError(f"{src}: forbid #{n} ({acq} under {held}) contradicts the order {held} before {acq} "
                             f"({rs.before[(held, acq)]})")
        rs.forbid.append(Forbid(held, acq, str(f.get("why", "driver rule")), src))
    sig = data.get("signalling", [])
    if not _str_list(sig):
        raise RulesError(f"{src}: signalling must be a list of action names")
    actions = {a.name for a in model.actions}
    for name in sig:
        if name not in actions:
            raise RulesError(f"{src}: signalling path {name!r} is not an action of the design")
        rs.signalling.add(name)
    return rs


def _str_list(x: object) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) and v for v in x)
