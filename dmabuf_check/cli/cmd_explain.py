"""``dmabuf-check explain ID``: the kernel rule behind an id a verdict prints.

ID is a rule of the catalog (``MIG-4``, ``RESV-A1``, ``DL-12``), a property (``no-fence-wait-deadlock``:
its meaning and every rule it cites), or a catalog section (``17`` or ``"section 17"``). The text comes
from the rule catalog shipped in the package (``properties/rules.md``), with its kernel source, how
the kernel enforces it, its version tags, and the properties that check it under which generations.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from typing import TYPE_CHECKING

from dmabuf_check.cli import exitcodes
from dmabuf_check.model.types import ModelError
from dmabuf_check.properties import rulebook

if TYPE_CHECKING:  # the citations read the whole property catalog: imported when an id is explained
    from dmabuf_check.properties.citations import Citation


def register(p: argparse.ArgumentParser) -> None:
    """The arguments of ``dmabuf-check explain`` (its parser and one-line help: ``cli.main.COMMANDS``)."""
    p.add_argument("id", metavar="ID", help="a rule id (MIG-4), a property id (no-fence-wait-deadlock) or a section (17)")
    p.add_argument("--json", action="store_true", help="print the entry as JSON")
    p.set_defaults(run=run)


def _wrap(text: str, indent: str = "  ") -> str:
    out = []
    for para in re.split(r"\n(?=\s*(?:- |\d\. |[a-z]\) ))", text.strip()):
        out.append(textwrap.fill(" ".join(para.split()), 100, initial_indent=indent, subsequent_indent=indent + "  "))
    return "\n".join(out)


def _where(c: Citation) -> str:
    if c.where == "r1":
        return "R1 reference model"
    if c.where == "driver programs":
        return "driver programs, wherever the objects appear"
    return "designs under " + ", ".join(c.generations) if c.generations else "designs (no generation)"


def _checked_by(cites: list[Citation]) -> list[str]:
    return [f"  {c.property}: {c.meaning} [{_where(c)}]" for c in cites]


def rule_text(r: rulebook.RuleText) -> str:
    from dmabuf_check.properties.citations import citing, generations_for

    lines = [f"{r.id}  (rules catalog, section {r.section})", _wrap(r.statement)]
    if r.source:
        lines += ["Kernel source:", _wrap(r.source)]
    if r.enforcement:
        lines += ["Enforced by:", _wrap(r.enforcement)]
    if r.tags:
        lines.append("Versions: " + " ".join(r.tags))
    gens = generations_for(r.id)
    if gens:
        lines.append("Protocol generation: " + ", ".join(gens) + " (--kernel)")
    cites = citing(r.id)
    if cites or not gens:
        lines.append("Checked by:" if cites else "Checked by: no property yet (the rule is documented, not modelled)")
    lines += _checked_by(cites)
    return "\n".join(lines)


def rule_json(r: rulebook.RuleText) -> dict[str, object]:
    from dmabuf_check.properties.citations import citing, generations_for

    return {"id": r.id, "section": r.section, "title": r.title, "statement": r.statement, "source": r.source,
            "enforcement": r.enforcement, "versions": list(r.tags), "text": r.text,
            "generations": generations_for(r.id),
            "checked_by": [{"property": c.property, "meaning": c.meaning, "model": c.where,
                            "generations": list(c.generations)} for c in citing(r.id)]}


def explain(ident: str) -> tuple[str, dict[str, object]]:
    """The text and JSON of an id; ModelError if the catalog knows no such id."""
    from dmabuf_check.properties.citations import all_citations

    key = ident.strip()
    r = rulebook.lookup(key)
    if r is not None:
        return rule_text(r), rule_json(r)
    props = [c for c in all_citations() if c.property == key]
    if props:
        texts, rules = [], []
        for c in props:
            texts.append(f"{c.property}: {c.meaning}\n  [{_where(c)}]\n  source: {c.source}")
        seen = list(dict.fromkeys(rid for c in props for rid in c.rules))
        for rid in seen:
            rr = rulebook.lookup(rid)
            if rr is not None:
                texts.append(rule_text(rr))
                rules.append(rule_json(rr))
        for n in dict.fromkeys(n for c in props for n in rulebook.section_refs(c.source)):
            texts.append(section_text(n))
        return "\n\n".join(texts), {"property": key, "meaning": props[0].meaning,
                                    "cited_as": [{"model": c.where, "generations": list(c.generations),
                                                  "rules": list(c.rules), "source": c.source} for c in props],
                                    "rules": rules}
    m = re.fullmatch(r"(?:section\s+)?(\d+(?:\.\d+)?)", key, re.IGNORECASE)
    if m and m.group(1) in rulebook.sections():
        s = rulebook.sections()[m.group(1)]
        ids = [rid for rid, rr in rulebook.rules().items() if rr.section.startswith(f"{s.number}. ")]
        return section_text(s.number), {"section": s.number, "title": s.title, "rules": ids, "text": s.text}
    raise ModelError(f"unknown rule, property or section {ident!r} (rules: dmabuf-check list --rules; "
                     "properties: dmabuf-check list --properties)")


def section_text(number: str) -> str:
    s = rulebook.sections()[number]
    ids = [(rid, rr.title) for rid, rr in rulebook.rules().items() if rr.section.startswith(f"{s.number}. ")]
    lines = [f"section {s.number}. {s.title} (rules catalog)"]
    lines += [f"  {rid}  {title}" for rid, title in ids]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    text, data = explain(args.id)
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write(text + "\n")
    return exitcodes.OK
