"""Every built-in design keeps the contract of its protocol generation, with three importers of mixed kinds."""

import pytest
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.checker.result import HOLDS

from dmabuf_check.registry import build, builtin

# (design, importer mix): N = 3, mixed kinds where the design supports them
CONFIGS = [
    ("ttm-vram", "static=1,dynamic=1,p2p=1"),
    ("ttm-vram", "static=1,p2p=1,cpu=1"),
    ("gem-prime", "static=1,dynamic=1,cpu=1"),
    ("system-heap", "static=1,dynamic=1,cpu=1"),
    ("udmabuf", "static=1,dynamic=1,cpu=1"),
    ("vb2-camera", "static=2,cpu=1"),
    ("rfc2011-reference", "static=3"),  # the 2011 contract has static importers only
    ("ttm-evict", "static=1,dynamic=1"),  # two buffers
    ("ttm-evict", "dynamic=3"),
]


def test_every_builtin_design_is_configured():
    # driver programs are checked by tests/test_driver_programs.py
    assert {name for name, _ in CONFIGS} == {n for n, ref in builtin().items() if not ref.is_program}
    assert len(builtin()) >= 6


@pytest.mark.parametrize("name,mix", CONFIGS, ids=[f"{n}-{m}" for n, m in CONFIGS])
def test_builtin_design_keeps_every_property(name, mix):
    ref = builtin()[name]
    model, _info, props = build(ref, mix=mix)
    assert sum(int(part.split("=")[1]) for part in mix.split(",")) == 3 or name == "ttm-evict"
    r = explore(model, props)
    assert r.complete and not r.stop_reason
    assert {v.property: v.status for v in r.verdicts} == {p.id: HOLDS for p in props}
    # the catalog properties that matter for this design are really checked, not left out
    ids = {p.id for p in props}
    assert {"release-is-final", "no-fence-wait-deadlock", "no-stuck-state"} <= ids


@pytest.mark.parametrize("name", ["ttm-vram", "gem-prime", "udmabuf"])
def test_symmetry_keeps_verdicts_and_never_adds_states(name):
    ref = builtin()[name]
    model, _info, props = build(ref, mix="static=2,cpu=1" if name != "ttm-vram" else "dynamic=2,p2p=1")
    sym = explore(model, props, symmetry=True)
    model2, _info2, props2 = build(ref, mix="static=2,cpu=1" if name != "ttm-vram" else "dynamic=2,p2p=1")
    full = explore(model2, props2, symmetry=False)
    assert sym.ok and full.ok
    assert sym.states < full.states  # two importers of one kind are interchangeable


def test_profile_generations_decide_the_verdict():
    """gem-prime's mmap takes resv itself: right from v6.4 on, a self-deadlock under the v6.2 core lock (DL-9)."""
    ref = builtin()["gem-prime"]
    model, _info, props = build(ref, "v6.2", mix="cpu=1")
    r = explore(model, props, stop_at_first=False)
    assert "no-recursive-lock" in {v.property for v in r.violated}
    model, _info, props = build(ref, "v6.16", mix="cpu=1")
    assert explore(model, props).ok
