"""Liveness of a design: every fence signals, every kernel call that started returns (FENCE-LIVE-1, DL-10).

Both are "p leads to q" properties judged on fair lassos of the whole state graph (``check --liveness``).
The fairness is the kernel's, not the user's: nothing forces an importer or the exporter to *start* a
call (userspace may never call again), but a thread inside a call keeps running whenever it can (strong
fairness of the call's later steps: a mutex hands the lock to its waiter, MUTEX_FLAG_HANDOFF), and the
devices complete what they were given (strong fairness of the hardware and of the exporter's signalling
path). Under these, a fence that never signals or a call that never returns is a real bug: a fence that
waits for something nobody is bound to do (DOC "Indefinite DMA Fences"), a livelock, a wait on a fence
whose signaller waits behind it.
"""

from __future__ import annotations

from dmabuf_check.model.components.context import BuildInfo
from dmabuf_check.model.expr import Expr, MemberConst, disj, subst
from dmabuf_check.model.lang import Model
from dmabuf_check.properties.base import LIVENESS
from dmabuf_check.properties.catalog.base import Rule, has, var, vname

FAIR_ACTORS = ("hardware", "signaller")  # a device's completion, the exporter's fence-signalling path


def _members(m: Model) -> list[MemberConst]:
    idx = m.index_sets["importers"]
    return [MemberConst(idx, j) for j in idx.members()]


def fences_signal(m: Model, info: BuildInfo) -> list[tuple[Expr, Expr]]:
    """Per buffer: each importer job's fence, and each of the exporter's two fences, once pending, signals."""
    out = []
    for b in range(info.buffers):
        if has(m, vname("job", b, info.buffers)):
            job = m.variable(vname("job", b, info.buffers))
            out += [(job[j] != "NONE", job[j] == "NONE") for j in _members(m)]
        for slot in ("ef1", "ef2"):
            if has(m, vname(slot, b, info.buffers)):
                ef = var(m, slot, b, info.buffers)
                pending = (ef == "COPY") | (ef == "JOB")
                out.append((pending, ~pending))
    return out


def calls_return(m: Model, info: BuildInfo) -> list[tuple[Expr, Expr]]:
    """Each importer's and the exporter's kernel call, once started (past its first step), returns.

    A call's variants are chosen at its first step and checked at a later one (attach "with migration"
    requires the buffer still to be in VRAM once the lock is held); a variant whose check fails has no
    way on in the model, where the kernel took the other branch. Such a point is not a hang: it counts
    as returned."""
    out = []
    if has(m, "pc"):
        pc = m.variable("pc")
        out += [(pc[j] != "IDLE", (pc[j] == "IDLE") | _other_branch(info, "importers", j)) for j in _members(m)]
    if has(m, "exp_pc"):
        exp_pc = m.variable("exp_pc").ref()
        out.append((exp_pc != "IDLE", (exp_pc == "IDLE") | _other_branch(info, "exporter", None)))
    return out


def _other_branch(info: BuildInfo, actor: str, j: MemberConst | None) -> Expr:
    """The thread sits where its way on is free (lock free, wait over) yet no action of that point is
    enabled: its call's checks chose a branch the model left to another variant."""
    parts = []
    for (who, _label), acts in info.branches.items():
        if who != actor or all(r is None for _a, r in acts):
            continue

        def bind(e: Expr, a) -> Expr:
            return subst(e, {a.params[0]: j}) if j is not None and a.params else e
        free = disj(*(bind(r, a) for a, r in acts if r is not None))
        enabled = disj(*(bind(a.guard, a) for a, _r in acts))
        parts.append(free & ~enabled)
    return disj(*parts)


def fair_actions(m: Model, info: BuildInfo) -> tuple[str, ...]:
    """What runs whenever it can: the devices, the signalling path, and every later step of a started call."""
    return tuple(a.name for a in m.actions if a.actor in FAIR_ACTORS or a.name in info.continuations)


RULES: tuple[Rule, ...] = (
    Rule("fence-eventually-signals",
         "every pending fence (an importer's job, the exporter's copy or job) eventually signals, with the "
         "devices and every started call strongly fair",
         ("FENCE-LIVE-1", "DL-10"), "dma-fence.c DOC 'Indefinite DMA Fences'; Documentation/driver-api/dma-buf.rst",
         kind=LIVENESS, leads_to=fences_signal, strong_fairness=fair_actions, loop_actions=fair_actions,
         present=lambda m, info: bool(fences_signal(m, info))),
    Rule("calls-return",
         "every kernel call that started (map, move, submit, evict, ...) eventually returns, with the devices "
         "and every started call strongly fair",
         ("FENCE-LIVE-1", "MIG-6", "DL-1"), "dma_resv_wait_timeout(), ww_mutex_lock() kernel-doc; kernel/hung_task.c",
         kind=LIVENESS, leads_to=calls_return, strong_fairness=fair_actions, loop_actions=fair_actions,
         present=lambda m, info: bool(calls_return(m, info))),
)
