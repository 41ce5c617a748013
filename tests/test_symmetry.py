"""The symmetry canonical form is exact: one representative per orbit, no more, no less."""

import itertools

import pytest
from dmabuf_check.checker.explicit.symmetry import canon_source, canonicalizer, exhaustive_canon, permute
from dmabuf_check.model import r1
from dmabuf_check.model.pycompile import Compiled


def reachable(c: Compiled) -> set[bytes]:
    seen, todo = {c.initial}, [c.initial]
    while todo:
        for _, n in c.successors(todo.pop()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


@pytest.mark.parametrize("kind,orbits", [("dynamic", 1848), ("static", 340)])
def test_fast_form_is_invariant_under_every_permutation_and_separates_orbits(kind, orbits):
    c = Compiled(r1.build(3, kind))
    fast, slow = canonicalizer(c), exhaustive_canon(c)
    states = reachable(c)
    assert len({fast(s) for s in states}) == orbits
    assert len({slow(s) for s in states}) == orbits
    perms = list(itertools.permutations(range(3)))
    for s in states:
        f = fast(s)
        assert all(fast(permute(c, s, p)) == f for p in perms)
        assert fast(f) == f  # a representative is its own canonical form


def test_lock_holder_is_renumbered_with_its_importer():
    c = Compiled(r1.build(3, "dynamic"))
    fast = canonicalizer(c)
    lay = c.layout
    s = lay.encode({"storage": "SYS", "pins": 0, "owner": "importer 1", "exp": "IDLE", "exp_ref": 1, "released": 0,
                    "ref": [1, 1, 0], "att": [1, 0, 0], "map": [1, 0, 0], "loc": ["SYS", "NONE", "NONE"],
                    "stale": [0, 0, 0], "fence": [1, 0, 0]})
    d = lay.decode(fast(s))
    # the lock holder is still the importer that is attached, mapped and fenced
    who = int(str(d["owner"]).split()[-1]) - 1
    assert d["att"][who] == 1 and d["map"][who] == 1 and d["fence"][who] == 1
    assert "keyed" in canon_source(c)  # R1 has a reference global, so the flagged form is generated
