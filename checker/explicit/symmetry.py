"""Importer symmetry: an exact canonical form of a state's orbit.

Importers are interchangeable, so states that differ only by a permutation of
importers are explored once. The stored state is an exact orbit
representative: two states get the same canonical form if and only if one is a
permutation of the other, so the number of stored states is the number of
orbits (Rumur's ``--symmetry-reduction exhaustive`` count), never more.

Fast form (generated code): each member's variables are one contiguous byte
row. A global reference variable that points at a member (``owner`` =
importer 2) marks that member's row with a flag byte; sorting the flagged
rows is then a canonical order, and the references are renumbered to the
rows' new positions. When a *per-member* variable refers to members, sorting
is no longer canonical and the exhaustive form (minimum over all N!
permutations) is used instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from dmabuf_check.model.pycompile import Compiled
from dmabuf_check.model.types import RefType


def _ref_globals(c: Compiled) -> list[tuple[int, int]]:
    """(slot, number of specials) of each global variable that may point at a member."""
    lay = c.layout
    return [
        (lay.slot(v, None), len(v.type.specials))
        for v in lay.globals_
        if isinstance(v.type, RefType)
    ]


def needs_exhaustive(c: Compiled) -> bool:
    return any(isinstance(v.type, RefType) for v in c.layout.members)


def permute(c: Compiled, s: bytes, perm: tuple[int, ...]) -> bytes:
    """Apply ``perm`` (new position of each member) to state ``s``."""
    lay = c.layout
    g, w, n = lay.n_globals, lay.width, lay.n_members
    out = bytearray(s)
    for m in range(n):
        out[g + perm[m] * w:g + (perm[m] + 1) * w] = s[g + m * w:g + (m + 1) * w]
    refs = [(lay.slot(v, mm), v.type) for v, mm in lay.slot_vars if isinstance(v.type, RefType)]
    for slot, t in refs:
        k = len(t.specials)
        if out[slot] >= k:
            out[slot] = k + perm[out[slot] - k]
    return bytes(out)


def exhaustive_canon(c: Compiled) -> Callable[[bytes], bytes]:
    perms = list(itertools.permutations(range(c.layout.n_members)))
    return lambda s: min(permute(c, s, p) for p in perms)


def canon_source(c: Compiled) -> str:
    """Python source of ``canon(s)`` for models without member-to-member references."""
    lay = c.layout
    g, w, n = lay.n_globals, lay.width, lay.n_members
    refs = _ref_globals(c)
    names = [f"r{m}" for m in range(n)]
    rows = ", ".join(names)
    ordered = " <= ".join(names)
    # most successors change one member and are already canonical: compare the rows before sorting them
    lines = ["def canon(s):"]
    lines += [f"    r{m} = s[{g + m * w}:{g + (m + 1) * w}]" for m in range(n)]
    if refs:
        cond = " and ".join(f"s[{slot}] < {k}" for slot, k in refs)
        lines.append(f"    if {cond}:")
        lines.append(f"        if {ordered}:" if n > 1 else "        if True:")
        lines.append("            return s")
        lines.append(f"        return s[:{g}] + b''.join(sorted(({rows},)))")
        # rows + one flag byte per reference global + the old member number
        keyed_names = [f"k{m}" for m in range(n)]
        for m in range(n):
            lines.append(f"    k{m} = r{m} + bytes(("
                         + "".join(f"s[{slot}] == {k + m}, " for slot, k in refs) + f"{m},))")
        if n > 1:
            lines.append(f"    if {' <= '.join(keyed_names)}:")
            lines.append("        return s")
        lines.append(f"    keyed = sorted(({', '.join(keyed_names)},))")
        lines.append(f"    pos = [0] * {n}")
        lines.append("    for p, row in enumerate(keyed):")
        lines.append("        pos[row[-1]] = p")
        lines.append(f"    head = bytearray(s[:{g}])")
        for slot, k in refs:
            lines.append(f"    if head[{slot}] >= {k}:")
            lines.append(f"        head[{slot}] = {k} + pos[head[{slot}] - {k}]")
        lines.append(f"    return bytes(head) + b''.join([row[:{w}] for row in keyed])")
    else:
        if n > 1:
            lines.append(f"    if {ordered}:")
            lines.append("        return s")
        lines.append(f"    return s[:{g}] + b''.join(sorted(({rows},)))")
    return "\n".join(lines)


def canonicalizer(c: Compiled) -> Callable[[bytes], bytes]:
    """The canonical-form function for ``c`` (exact in both forms)."""
    if c.layout.n_members == 0:
        return lambda s: s
    if needs_exhaustive(c):
        return exhaustive_canon(c)
    return c.function("canon", canon_source(c))
