"""One prove run builds the encoding, the candidate lemmas and the Houdini fixpoint once for every property.

Counted, not timed: the candidate builder and the Houdini set-up run exactly
once for a multi-property ``prove``, and the verdicts (status, k, counterexample
length) and the lemma lists are those of a proof of each property on its own.
"""

from __future__ import annotations

import pytest
from dmabuf_check.checker.z3 import prove
from dmabuf_check.checker.z3.encode import FixedSystem
from dmabuf_check.checker.z3.houdini import houdini
from dmabuf_check.checker.z3.proof import Deadline
from dmabuf_check.checker.z3.prove import Options, Reuse, prove_fixed
from dmabuf_check.model import r1
from dmabuf_check.properties.r1 import PROPERTIES

from dmabuf_check.cli.main import main


def _counting(monkeypatch) -> dict[str, int]:
    calls = {"candidates": 0, "houdini": 0}
    real_candidates, real_run = prove.fixed_candidates, prove.HoudiniRun

    def candidates(*a, **kw):
        calls["candidates"] += 1
        return real_candidates(*a, **kw)

    class Run(real_run):
        def __init__(self, *a, **kw):
            calls["houdini"] += 1
            super().__init__(*a, **kw)

    monkeypatch.setattr(prove, "fixed_candidates", candidates)
    monkeypatch.setattr(prove, "HoudiniRun", Run)
    return calls


def test_a_multi_property_prove_builds_candidates_and_houdini_once(monkeypatch, capsys):
    calls = _counting(monkeypatch)
    code = main(["prove", "r1", "-n", "2", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count(" proved (") == len(PROPERTIES)
    assert calls == {"candidates": 1, "houdini": 1}


def test_the_shared_lemmas_are_the_fixpoint_that_contains_every_fixpoint_without_the_property():
    # fix(all) contains fix(all minus P) (the largest inductive subset of a larger set); when P is not in
    # fix(all) the two are the same, so the lemmas, and with them the verdicts, are those of a Houdini run
    # without P; when P is in it, the inductive fixpoint proves P outright
    model = r1.build(2, "static")
    opts = Options(properties=PROPERTIES, build=lambda n: r1.build(n, "static"))
    reuse = Reuse(model)
    contained = 0
    for p in PROPERTIES:
        system = FixedSystem(model)
        cands = prove.fixed_candidates(model, opts.build, opts.properties, exclude=p.id)
        fresh = houdini(system, cands, Deadline(None))
        shared = reuse.lemmas(p, opts, Deadline(None), lambda text: None)
        assert shared.complete and fresh.complete
        assert set(fresh.texts) <= set(shared.texts), p.id
        if p.id in shared.texts:
            contained += 1
        else:
            assert shared.texts == fresh.texts, p.id
    assert contained >= 1  # the case the shortcut is for occurs on R1
    assert reuse.candidate_builds == 1 and reuse.houdini_runs == 1


@pytest.mark.parametrize("kind,variant,engine", [("static", None, "kind"), ("dynamic", "B3", "kind"),
                                                 ("dynamic", None, "chc"), ("static", "B5", "bmc")])
def test_verdicts_with_reuse_equal_those_without(kind, variant, engine):
    model = r1.build(2, kind, variant)
    opts = Options(engine=engine, depth=12, timeout=120, properties=PROPERTIES,
                   build=lambda n: r1.build(n, kind, variant))
    reuse = Reuse(model)
    for p in PROPERTIES:
        alone = prove_fixed(model, p, opts)
        shared = prove_fixed(model, p, opts, reuse=reuse)
        assert (shared.status, shared.depth) == (alone.status, alone.depth), p.id
        length = (lambda r: r.counterexample.length if r.counterexample else None)
        assert length(shared) == length(alone), p.id
        if alone.certificate is not None:
            assert shared.certificate is not None and shared.certificate.checked == alone.certificate.checked
