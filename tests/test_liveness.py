"""Liveness under weak fairness: fair lassos, checked on the explicit state graph."""

import pytest
from dmabuf_check.checker import paths
from dmabuf_check.checker.api import check_model
from dmabuf_check.checker.explicit.liveness import check_liveness
from dmabuf_check.checker.result import HOLDS, UNKNOWN, VIOLATED
from dmabuf_check.model import r1
from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.properties.r1 import LIVENESS_PROPERTIES


@pytest.mark.parametrize("kind", ["static", "dynamic"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_correct_r1_fences_signal_and_moves_complete(kind, n):
    verdicts = check_liveness(r1.build(n, kind), list(LIVENESS_PROPERTIES))
    assert [v.status for v in verdicts] == [HOLDS, HOLDS]


def _replay_lasso(model, cex):
    c = Compiled(model)
    ks = [c.instance_index(s.action, tuple(p - 1 for p in s.params)) for s in cex.steps]
    states = [c.initial]
    for k in ks:
        nxt = c.step(states[-1], k)
        assert nxt is not None, "every lasso step is enabled"
        states.append(nxt)
    return c, ks, states


@pytest.mark.parametrize("n", [1, 2, 3])
def test_b4_fence_liveness_fails_with_a_fair_lasso(n):
    model = r1.build(n, "dynamic", "B4")
    fence_live, move_live = check_liveness(model, list(LIVENESS_PROPERTIES))
    for v in (fence_live, move_live):
        assert v.status == VIOLATED
        cex = v.counterexample
        c, ks, states = _replay_lasso(model, cex)
        assert cex.loop is not None
        assert states[-1] == states[cex.loop]  # the last state closes the loop
        loop_states = states[cex.loop:]
        loop_ks = ks[cex.loop:]
        # weak fairness of every signal instance: fired on the loop, or disabled somewhere on it
        for k, inst in enumerate(c.instances):
            if inst.action.name in ("signal",) + (("migrate_end",) if v is move_live else ()):
                assert k in loop_ks or any(c.step(s, k) is None for s in loop_states)
    # the awaited event never happens on the loop
    dec = Compiled(model).layout.decode
    _, _, states = _replay_lasso(model, move_live.counterexample)
    assert all(dec(s)["exp"] == "WAIT" for s in states[move_live.counterexample.loop:])


def test_liveness_is_opt_in_and_merged_in_catalog_order():
    from dmabuf_check.registry import entry, select

    e = entry("r1")
    assert "fence-signals" not in [p.id for p in select(e, None)]
    props = select(e, None, liveness=True)
    r = check_model(r1.build(2, "dynamic", "B4"), props, stop_at_first=False)
    assert [v.property for v in r.verdicts] == [p.id for p in props]
    assert {v.property for v in r.violated} == {"no-stuck-state", "no-fence-wait-deadlock", "fence-signals",
                                                 "move-completes"}


def test_state_limit_makes_liveness_unknown():
    (v, _) = check_liveness(r1.build(3, "dynamic"), list(LIVENESS_PROPERTIES), max_states=100)
    assert v.status == UNKNOWN


def test_lasso_replays_through_paths():
    model = r1.build(1, "dynamic", "B4")
    v = check_liveness(model, list(LIVENESS_PROPERTIES))[1]
    c = Compiled(model)
    ks = [c.instance_index(s.action, tuple(p - 1 for p in s.params)) for s in v.counterexample.steps]
    steps, _ = paths.replay_instances(c, ks)
    assert [s.label for s in steps][-2:] == ["exp_lock", "migrate_begin"]
    assert v.counterexample.loop == len(steps)  # stuck forever after the move began
