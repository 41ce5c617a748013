"""Turn a path of action instances into a counterexample object.

Every engine ends a violation with a sequence of action instances from the
initial state; this module replays it through the compiled model (so every
step is re-checked against the model's own guards and effects) and builds the
``Counterexample`` that renderers and trace tools read.
"""

from __future__ import annotations

from dmabuf_check.checker.result import Counterexample, Step
from dmabuf_check.model.lang import Action, Model
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.model.types import ModelError


def actor_of(model: Model, action: Action, binding: tuple[int, ...]) -> str:
    """Who performs an action instance, as a trace names it."""
    if action.actor in model.index_sets:
        return f"{model.index_sets[action.actor].member_label} {binding[0] + 1}"
    if action.actor == "hardware" and binding:
        return f"hardware (fence {binding[0] + 1})"
    return action.actor


def step_of(c: Compiled, k: int, before: bytes, after: bytes) -> Step:
    inst = c.instances[k]
    lay = c.layout
    changed = {lay.slot_names[i]: lay.decode_slot(i, after[i]) for i in range(lay.size) if before[i] != after[i]}
    return Step(inst.action.name, [b + 1 for b in inst.binding], actor_of(c.model, inst.action, inst.binding),
                inst.action.kernel, lay.decode(after), changed)


def replay_instances(c: Compiled, instances: list[int]) -> tuple[list[Step], bytes]:
    """Fire ``instances`` in order from the initial state; raise ModelError at a disabled one."""
    s = c.initial
    steps: list[Step] = []
    for n, k in enumerate(instances, 1):
        nxt = c.step(s, k)
        if nxt is None:
            raise ModelError(f"step {n}: {c.instances[k].label} is not enabled")
        steps.append(step_of(c, k, s, nxt))
        s = nxt
    return steps, s


def counterexample(c: Compiled, prop: str, instances: list[int], detail: str = "") -> Counterexample:
    """The counterexample for ``prop`` along ``instances`` (replayed and re-checked)."""
    steps, _ = replay_instances(c, instances)
    return Counterexample(prop, c.layout.decode(c.initial), steps, detail)
