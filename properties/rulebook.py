"""The kernel's dma-buf rules as text: the catalog every property, verdict and SARIF rule cites.

``rules.md`` (shipped beside this module, a copy of the project's rule catalog) numbers each rule
(``MIG-4``, ``RESV-A1``, ``DL-12`` ...) with its source in the kernel, how the kernel enforces it,
and how it appears in a model. This module parses it once into ``RuleText`` records, so that
``dmabuf-check explain ID`` and SARIF ``help`` print the rule itself, not just its id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

# "MIG-4. text", and "FENCE-LIVE-1 (cross-driver contract). text"
RULE_LINE = re.compile(r"^(?P<id>[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[A-Z]?\d+[a-z]?)(?P<note> \([^)]*\))?\. (?P<rest>.*)$")
SECTION_LINE = re.compile(r"^#{2,3} (?P<num>\d+(?:\.\d+)?)\. (?P<title>.*)$")
FIELD = re.compile(r"^\s*-?\s*(?P<name>Source|Enforcement|Model(?: property)?|Detection):\s*(?P<text>.*)$")
# version tags: [6.x] [<6.16] [>=6.16] [5.7..6.1] [7.1?] [HIST] [modern] [newest] [2026 patch]
TAG = re.compile(r"\[[^\]\n]*(?:\d+\.(?:\d+|x)|HIST|modern|newest|patch)[^\]\n]*\]")
SECTION_REF = re.compile(r"section (\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class RuleText:
    id: str
    section: str  # "8. MIG: migration of backing storage, invalidation, revocation"
    text: str  # the whole entry as the catalog writes it
    statement: str  # the rule itself, without the Source/Enforcement/Model notes
    source: str
    enforcement: str
    tags: tuple[str, ...]  # version tags the entry carries ([<6.16], [6.x], ...)

    @property
    def title(self) -> str:
        """The first sentence of the statement, on one line."""
        flat = " ".join(self.statement.split())
        m = re.match(r"(.{20,}?[.;])(\s|$)", flat)
        title = m.group(1) if m else flat
        return title if len(title) <= 200 else title[:197].rstrip() + "..."


@dataclass(frozen=True)
class Section:
    number: str
    title: str
    text: str


def _read() -> str:
    """The dma-buf catalog, then the general kernel-object rules driver programs are checked against."""
    here = files("dmabuf_check.properties")
    return "\n".join((here / name).read_text(encoding="utf-8") for name in ("rules.md", "kernel_rules.md"))


def parse(text: str) -> tuple[dict[str, RuleText], dict[str, Section]]:
    rules: dict[str, RuleText] = {}
    sections: dict[str, Section] = {}
    section = ""
    sec_num = ""
    sec_lines: dict[str, list[str]] = {}
    current: list[str] = []
    current_id = ""

    def close() -> None:
        nonlocal current, current_id
        if current_id:
            rules[current_id] = _entry(current_id, section_of[current_id], current)
        current, current_id = [], ""

    section_of: dict[str, str] = {}
    for line in text.splitlines():
        m = SECTION_LINE.match(line)
        if m:
            close()
            sec_num, section = m.group("num"), f"{m.group('num')}. {m.group('title').strip()}"
            sec_lines[sec_num] = []
            sections[sec_num] = Section(sec_num, m.group("title").strip(), "")
            continue
        if sec_num:
            sec_lines[sec_num].append(line)
        if line.startswith("-----"):
            close()
            continue
        m = RULE_LINE.match(line)
        if m:
            close()
            current_id = m.group("id")
            section_of[current_id] = section
            current = [(m.group("note").strip() + " " if m.group("note") else "") + m.group("rest")]
        elif current_id:
            current.append(line)
    close()
    for num, lines in sec_lines.items():
        body = "\n".join(lines).strip("\n-")
        sections[num] = Section(num, sections[num].title, body.strip())
    return rules, sections


def _entry(rid: str, section: str, lines: list[str]) -> RuleText:
    while lines and not lines[-1].strip():
        lines.pop()
    statement: list[str] = []
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        m = FIELD.match(line)
        if m:
            current = fields.setdefault(m.group("name").split()[0], [])
            body, _, detection = m.group("text").partition(" Detection:")
            current.append(body.strip())
            if detection:
                current = fields.setdefault("Detection", [])
                current.append(detection.strip())
        elif current is not None and line.startswith("  ") and not line.lstrip().startswith(("- ", "1.", "2.")):
            current.append(line.strip())
        else:
            current = None
            if not fields:
                statement.append(line)
    # entries written as one paragraph ("... Source: x. Enforcement: DOC. Model: ...")
    flat = " ".join(" ".join(statement).split())
    if "Source:" in flat and "Source" not in fields:
        head, _, tail = flat.partition("Source:")
        flat = head.strip()
        src, _, tail = tail.partition("Enforcement:")
        fields["Source"] = [src.strip()]
        if tail:
            enf, _, _ = tail.partition("Model:")
            fields["Enforcement"] = [enf.strip()]
        statement = [flat]
    text = "\n".join(lines)
    return RuleText(rid, section, text, "\n".join(statement).strip(), " ".join(fields.get("Source", [])).strip(),
                    " ".join(fields.get("Enforcement", [])).strip(), tuple(dict.fromkeys(TAG.findall(text))))


@lru_cache(maxsize=1)
def catalog() -> tuple[dict[str, RuleText], dict[str, Section]]:
    return parse(_read())


def rules() -> dict[str, RuleText]:
    return catalog()[0]


def sections() -> dict[str, Section]:
    return catalog()[1]


def lookup(rule_id: str) -> RuleText | None:
    """The rule with this id; a case of a rule (``DL-5a``: case a) of DL-5) gives the rule."""
    rid = rule_id.strip()
    found = rules().get(rid.upper())
    if found is None and re.fullmatch(r".*\d[a-z]", rid):
        found = rules().get(rid[:-1].upper())
    return found


def section_refs(text: str) -> list[str]:
    """The catalog sections a source string cites ("spec/rules.md section 17 ...")."""
    return [n for n in SECTION_REF.findall(text) if n in sections()]
