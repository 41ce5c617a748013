"""The explicit-state engine: breadth-first search with an exact visited set.

The model is compiled once (``model.pycompile``); this module stitches the
compiled fragments into one generated function, ``expand(s)``, that checks
every selected invariant on a state, fires every enabled action instance,
canonicalises the successors (importer symmetry) and appends the new ones to
the queue. The queue is the list of stored states itself, so a state's id is
its position, and the parent links are two flat arrays: shortest
counterexamples cost 6 bytes per state.

States are ``bytes``; the visited set is a Python set of them (exact: no hash
compaction). Properties are checked when a state is expanded, so the first
violating state found for a property is at minimal BFS depth.
"""

from __future__ import annotations

import resource
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dmabuf_check.checker import paths
from dmabuf_check.checker.explicit import checkpoint
from dmabuf_check.checker.explicit.symmetry import canonicalizer
from dmabuf_check.checker.result import HOLDS, UNKNOWN, VIOLATED, CheckResult, Counterexample, Verdict
from dmabuf_check.model.expr import MemberConst, subst
from dmabuf_check.model.lang import Model
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.properties import waitfor
from dmabuf_check.properties.base import DEADLOCK, Property

CHECK_EVERY = 4096
INTERRUPTED = "interrupted by the user"  # expansions between limit checks and progress reports


@dataclass
class Limits:
    """Resource limits; hitting one ends the run cleanly with partial figures."""

    max_states: int | None = None
    time_limit: float | None = None  # seconds
    max_memory_mb: float | None = None


@dataclass
class CheckpointPlan:
    """Where and how often the search writes its checkpoint (``checker.explicit.checkpoint``)."""

    directory: str
    every: float = 300.0  # seconds between checkpoints (TLC's default is 30 minutes)
    command: str = ""  # the command line, recorded so a mismatched resume can name it


@dataclass
class Progress:
    states: int
    transitions: int
    depth: int
    frontier: int
    seconds: float
    memory_mb: float


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _expand_source(c: Compiled, invariants: list[str], end: str, deadlock_bit: int, symmetry: bool,
                   record_first: bool = False, attempts: dict[int, str] | None = None) -> str:
    lines = [
        "def expand(s, sid, seen, add, push, par, via, cov, canon, first, tried):",
        f"    {c.unpack}",
        "    bad = 0",
    ]
    # an actor blocked in a waiting step has attempted it (lockdep records the dependency at the attempt)
    for k, src in (attempts or {}).items():
        lines.append(f"    if tried[{k}] < 0 and {src}: tried[{k}] = sid")
    for bit, src in enumerate(invariants):
        lines.append(f"    if not {src}: bad |= {1 << bit}")
    lines.append("    en = 0")
    emit = "\n".join([
        *(["n = canon(n)"] if symmetry else []),
        "en += 1",
        *(["if not cov[{k}]: first[{k}] = sid"] if record_first else []),
        "cov[{k}] += 1",
        "if n not in seen:",
        "    add(n); push(n); par(sid); via({k})",
    ])
    for k in range(len(c.instances)):
        lines += c.instance_source(k, "    ", emit.replace("{k}", str(k)))
    lines.append(f"    is_end = {end}")
    if deadlock_bit >= 0:
        lines.append(f"    if en == 0 and not is_end: bad |= {1 << deadlock_bit}")
    lines.append("    return bad, en, is_end")
    return "\n".join(lines)


class Explorer:
    """One breadth-first exploration of a model against a set of properties."""

    def __init__(self, model: Model, properties: Sequence[Property], *, symmetry: bool = True,
                 record_first: bool = False):
        """``record_first`` keeps, for every action instance, the first state it fired in (lock-order analysis)."""
        t0 = time.perf_counter()
        self.model = model
        self.properties = list(properties)
        self.symmetry = symmetry and any(v.index is not None for v in model.variables)
        self.c = Compiled(model)
        inv_src: list[str] = []
        self.bit_of: dict[str, int] = {}
        for p in self.properties:
            if p.kind == DEADLOCK:
                continue
            self.bit_of[p.id] = len(inv_src)
            inv_src.append(self.c.condition(p.predicate(model), f"property {p.id}"))
        deadlock = [p for p in self.properties if p.kind == DEADLOCK]
        dbit = len(inv_src) if deadlock else -1
        for p in deadlock:
            self.bit_of[p.id] = dbit
        end = self.c.condition(model.valid_end, "valid end states") if model.valid_end is not None else "False"
        self.record_first = record_first
        attempts = self._attempt_conditions() if record_first else {}
        source = _expand_source(self.c, inv_src, end, dbit, self.symmetry, record_first, attempts)
        self.expand = self.c.function("expand", source)
        # what a checkpoint must match to be resumed by this search: the same compiled check, bit for bit
        self.fingerprint = checkpoint.fingerprint(source, model.name, repr(sorted(model.params.items(), key=str)),
                                                  ",".join(p.id for p in self.properties), str(self.symmetry))
        self.first: list[int] = []  # per instance: id of the first state it fired in, -1 if never
        self.tried: list[int] = []  # per waiting instance: id of the first state its actor waits in it
        self._tree: tuple[list[bytes], array, array] | None = None
        self.canon = canonicalizer(self.c) if self.symmetry else (lambda s: s)
        self.compile_seconds = time.perf_counter() - t0

    def run(
        self,
        *,
        stop_at_first: bool = True,
        limits: Limits | None = None,
        progress: Callable[[Progress], None] | None = None,
        exhaustive: bool = False,
        checkpoint_plan: CheckpointPlan | None = None,
        resume: checkpoint.Snapshot | None = None,
    ) -> CheckResult:
        """Explore; ``exhaustive`` visits every reachable state even after violations (lock-order analysis).

        ``checkpoint_plan`` writes a checkpoint every so often and when a limit or Ctrl-C stops the run;
        ``resume`` continues from one (its fingerprint must be this search's), to the same result as a run
        that was never stopped."""
        limits = limits or Limits()
        c = self.c
        t0 = time.perf_counter()
        init = self.canon(c.initial)
        first = [-1] * len(c.instances)
        tried = [-1] * len(c.instances)
        wanted = set(self.bit_of)
        before = 0.0  # seconds of search in the runs a resumed checkpoint continues
        if resume is not None:
            self.check_resumable(resume)
            states, parent, via, cov = resume.states, resume.parent, resume.via, resume.cov
            seen = set(states)
            found = dict(resume.found)
            transitions, ends = resume.transitions, resume.ends
            sid, level_end, depth, before = resume.sid, resume.level_end, resume.depth, resume.seconds
        else:
            states = [init]
            seen = {init}
            parent = array("I", [0])
            via = array("H", [0])
            cov = [0] * len(c.instances)
            found = {}  # property -> state id of its shortest violation
            transitions = ends = 0
            sid, level_end, depth = 0, 1, 0
        last_checkpoint = 0.0
        # the search between two expansions, taken every CHECK_EVERY states: a Ctrl-C can land inside an
        # expansion that has stored some successors and counted some coverage; a checkpoint goes back to here
        mark = (len(states), sid, level_end, depth, transitions, ends, list(cov), dict(found))

        def snapshot() -> checkpoint.Snapshot:
            n, at, lend, dep, trans, nends, mcov, mfound = mark
            return checkpoint.Snapshot(self.fingerprint, checkpoint_plan.command if checkpoint_plan else "",
                                       len(init), states, parent, via, at, lend, dep, trans, nends,
                                       before + time.perf_counter() - t0, mcov, mfound, count=n)
        stop_reason = ""
        expand, canon = self.expand, self.canon
        add, push, par, vpush = seen.add, states.append, parent.append, via.append
        bits = sorted({b for b in self.bit_of.values()})
        props_of_bit = {b: [p for p, pb in self.bit_of.items() if pb == b] for b in bits}
        try:
            while sid < len(states):
                if sid == level_end:
                    depth += 1
                    level_end = len(states)
                bad, en, is_end = expand(states[sid], sid, seen, add, push, par, vpush, cov, canon, first, tried)
                transitions += en
                ends += is_end
                if bad:
                    for b in bits:
                        if bad >> b & 1:
                            for p in props_of_bit[b]:
                                if p not in found:
                                    found[p] = sid
                    if not exhaustive and (stop_at_first or wanted <= set(found)):
                        stop_reason = "violation"
                        sid += 1
                        break
                sid += 1
                if sid % CHECK_EVERY == 0:
                    now = time.perf_counter() - t0
                    mem = peak_memory_mb()
                    if progress:
                        progress(Progress(len(states), transitions, depth, len(states) - sid, before + now, mem))
                    if checkpoint_plan is not None:
                        mark = (len(states), sid, level_end, depth, transitions, ends, list(cov), dict(found))
                        if now - last_checkpoint >= checkpoint_plan.every:
                            checkpoint.save(checkpoint_plan.directory, snapshot())
                            last_checkpoint = time.perf_counter() - t0
                    if limits.time_limit is not None and now > limits.time_limit:
                        stop_reason = f"time limit of {limits.time_limit:g} s reached"
                        break
                    if limits.max_states is not None and len(states) >= limits.max_states:
                        stop_reason = f"state limit of {limits.max_states} reached"
                        break
                    if limits.max_memory_mb is not None and mem > limits.max_memory_mb:
                        stop_reason = f"memory limit of {limits.max_memory_mb:g} MiB reached"
                        break
        except MemoryError:
            stop_reason = "out of memory"
        except KeyboardInterrupt:  # Ctrl-C still yields the partial figures and the result file
            stop_reason = INTERRUPTED
        exhausted = sid >= len(states) and not stop_reason
        complete = exhausted or stop_reason == "violation"
        if checkpoint_plan is not None and not complete and stop_reason != "out of memory":
            try:  # a limit or Ctrl-C: the run can be resumed from exactly here
                checkpoint.save(checkpoint_plan.directory, snapshot())
            except KeyboardInterrupt:  # a second Ctrl-C while writing: the rename is atomic, the old one stays
                pass
        seconds = before + time.perf_counter() - t0
        if progress and stop_reason != INTERRUPTED:
            progress(Progress(len(states), transitions, depth, len(states) - sid, seconds, peak_memory_mb()))

        if self.record_first:
            self.first, self.tried = first, tried
            self._tree = (states, parent, via)
        verdicts = []
        for p in self.properties:
            if p.id in found:
                cex = self._counterexample(p, found[p.id], states, parent, via)
                verdicts.append(Verdict(p.id, p.meaning, list(p.rules), VIOLATED, cex))
            elif exhausted:
                verdicts.append(Verdict(p.id, p.meaning, list(p.rules), HOLDS))
            else:
                why = "search stopped at the first violation" if stop_reason == "violation" else stop_reason
                verdicts.append(Verdict(p.id, p.meaning, list(p.rules), UNKNOWN, note=why))
        per_state = sys.getsizeof(init) + 8 + sys.getsizeof(seen) / max(len(seen), 1) + 4 + 2
        return CheckResult(
            model=self.model.name,
            params=dict(self.model.params),
            engine="explicit-bfs",
            symmetry=self.symmetry,
            verdicts=verdicts,
            states=len(states),
            transitions=transitions,
            depth=depth,
            seconds=seconds,
            compile_seconds=self.compile_seconds,
            peak_memory_mb=peak_memory_mb(),
            bytes_per_state=per_state,
            complete=complete,
            stop_reason="" if exhausted else stop_reason,
            coverage={inst.label: n for inst, n in zip(c.instances, cov)},
            action_coverage=_per_action(c, cov),
            end_states=ends,
        )

    def check_resumable(self, snap: checkpoint.Snapshot) -> None:
        """Refuse (CheckpointError, one line) a snapshot that another check wrote."""
        init = self.canon(self.c.initial)
        if self.record_first:
            raise checkpoint.CheckpointError("--resume: the lock-order analysis does not resume from checkpoints")
        if snap.fingerprint != self.fingerprint or snap.state_size != len(init) or snap.states[0] != init \
                or len(snap.cov) != len(self.c.instances):
            by = f" (it was written by: {snap.command})" if snap.command else ""
            raise checkpoint.CheckpointError(f"--resume: the checkpoint is of another check{by}; resume it with the "
                                             "same model, options and version of dmabuf-check")
        unknown = set(snap.found) - set(self.bit_of)
        if unknown or any(not 0 <= v < len(snap.states) for v in snap.found.values()):
            raise checkpoint.CheckpointError("--resume: the checkpoint's violations name other properties or states")

    # ---- counterexamples --------------------------------------------------
    def _path(self, sid: int, parent: array, via: array) -> list[int]:
        ids = [sid]
        while ids[-1] != 0:
            ids.append(parent[ids[-1]])
        return ids[::-1]

    def _attempt_conditions(self) -> dict[int, str]:
        """For instances of actions that declare a wait: the condition under which the actor waits in them."""
        out = {}
        for k, inst in enumerate(self.c.instances):
            w = inst.action.waits
            if w is not None:
                env = {p: MemberConst(p.index, m) for p, m in zip(inst.action.params, inst.binding)}
                out[k] = self.c.condition(subst(w.when, env), f"wait condition of {inst.label}")
        return out

    def path_to_attempt(self, k: int) -> tuple[list[int], int]:
        """Concrete instance path to the first state whose actor waits in instance ``k`` (it may never fire).

        Returns the path and the concrete instance of the same action that waits
        there (under symmetry it may be another importer's).
        """
        assert self._tree is not None and self.tried[k] >= 0, "instance never attempted or not recorded"
        states, parent, via = self._tree
        path, concrete = self._concrete_path(self.tried[k], states, parent, via)
        name = self.c.instances[k].action.name
        for kk, src in self._attempt_conditions().items():
            if self.c.instances[kk].action.name == name and self.c.predicate(f"attempt_{kk}", src)(concrete):
                return path, kk
        raise AssertionError("the concretised state lost the waiting actor")

    def path_to_first_fire(self, k: int) -> list[int]:
        """Concrete instance path from the initial state through the first firing of instance ``k``.

        Needs ``record_first``; under symmetry the path is concretised like a
        counterexample, then an instance of the same action leading to the
        same orbit is fired.
        """
        assert self._tree is not None and self.first[k] >= 0, "instance never fired or not recorded"
        states, parent, via = self._tree
        sid = self.first[k]
        path, concrete = self._concrete_path(sid, states, parent, via)
        c = self.c
        target = self.canon(c.step(states[sid], k))  # type: ignore[arg-type]
        name = c.instances[k].action.name
        kk = next(kk for kk, n in c.successors(concrete)
                  if c.instances[kk].action.name == name and self.canon(n) == target)
        return path + [kk]

    def _concrete_path(self, sid: int, states, parent, via) -> tuple[list[int], bytes]:
        """Instance path to stored state ``sid``, concretised (symmetry) from the initial state."""
        ids = self._path(sid, parent, via)
        c = self.c
        concrete = c.initial
        path: list[int] = []
        for cur_id in ids[1:]:
            want_k = via[cur_id]
            target = states[cur_id]
            # under symmetry the stored path runs through orbit representatives:
            # pick the concrete successor in the same orbit, preferring the recorded action
            match = [(k, n) for k, n in c.successors(concrete) if self.canon(n) == target]
            assert match, "counterexample reconstruction lost the path"
            same_name = [m for m in match if c.instances[m[0]].action.name == c.instances[want_k].action.name]
            k, concrete = next((m for m in match if m[0] == want_k), None) or (same_name or match)[0]
            path.append(k)
        return path, concrete

    def _counterexample(self, p: Property, sid: int, states, parent, via) -> Counterexample:
        path, concrete = self._concrete_path(sid, states, parent, via)
        detail = self.wait_cycle(concrete) if p.id == "no-fence-wait-deadlock" else ""
        return paths.counterexample(self.c, p.id, path, detail)

    def wait_cycle(self, s: bytes) -> str:
        """The wait-for cycle of state ``s``, as 'a -> b -> ... -> a' (empty if none)."""
        import networkx as nx

        memo: dict[int, bool] = {}

        def holds(e) -> bool:
            key = id(e)
            if key not in memo:
                name = f"wf_{len(self.c._fns)}"
                memo[key] = self.c.predicate(name, self.c.condition(e, "wait-for edge"))(s)
            return memo[key]

        g = waitfor.state_graph(self.model, holds)
        try:
            cyc = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            return ""
        return " -> ".join([u for u, _ in cyc] + [cyc[0][0]])


def _per_action(c: Compiled, cov: list[int]) -> dict[str, int]:
    out: dict[str, int] = {a.name: 0 for a in c.actions}
    for inst, n in zip(c.instances, cov):
        out[inst.action.name] += n
    return out


def explore(
    model: Model,
    properties: Sequence[Property],
    *,
    symmetry: bool = True,
    stop_at_first: bool = True,
    limits: Limits | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> CheckResult:
    """Explore ``model`` breadth-first and check ``properties`` in every reachable state."""
    return Explorer(model, properties, symmetry=symmetry).run(stop_at_first=stop_at_first, limits=limits,
                                                             progress=progress)
