"""The rule catalog ships with the tool: every id a verdict, SARIF rule or lock report can print explains."""

from __future__ import annotations

import json
import os
import re

import pytest
from dmabuf_check.checker.explicit.search import explore
from dmabuf_check.properties import rulebook
from dmabuf_check.properties.catalog import CATALOG
from dmabuf_check.traces.ci_outputs import sarif

from dmabuf_check import registry
from dmabuf_check.cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULE_ID = re.compile(r"\b((?:REF|ATT|MAP|DYN|LOCK|MIG|CPU|MMAP|SYNC|FENCE|FENCE-LIVE|SIG|CONT|RESV-[WUAIL]|MEM|DL|HIST)"
                     r"-\d+[a-z]?)\b")


def printable_ids() -> set[str]:
    """Every rule id the package can print: cited by a property, or written anywhere in its source."""
    ids = {rid for p in registry.entry("r1").properties for rid in p.rules}
    ids |= {rid for r in CATALOG for rid in r.rules}
    for name in list(registry.builtin()) + list(registry.bugs()):
        ids |= {rid for p in registry.entry(name).properties for rid in p.rules}
    for folder in ("model", "properties", "checker", "traces", "dmabuf_check"):
        for dp, _, fn in os.walk(os.path.join(ROOT, folder)):
            for f in fn:
                if f.endswith(".py"):
                    ids |= set(RULE_ID.findall(open(os.path.join(dp, f)).read()))
    return ids


def test_the_catalog_parses_every_rule_with_its_source():
    rules = rulebook.rules()
    assert len(rules) == 184 + 17  # rules.md, then kernel_rules.md (KOBJ-1..5, KREF-1..4, CTX-1, LOCKDEP-1..5, DRV-1, DMA-1)
    assert rules["KREF-3"].section.startswith("21. KREF")
    assert "refcount_warn_saturate" in rules["KREF-2"].source
    assert rules["RESV-A1"].section.startswith("15. RESV")
    assert "dma_resv_reserve_fences" in rules["RESV-A1"].statement
    assert "BUG_ON" in rules["RESV-A1"].source
    assert rules["LOCK-8"].tags[0] == "[v6.2-v6.5 HIST]"
    assert rules["FENCE-LIVE-1"].title.startswith("(cross-driver contract) Every fence must complete")
    no_source = [rid for rid, r in rules.items() if not r.source and not rid.startswith("HIST-")]
    assert no_source == []


def test_every_printable_id_explains(capsys):
    ids = printable_ids()
    assert len(ids) >= 90
    for rid in sorted(ids):
        assert main(["explain", rid]) == 0, rid
        out = capsys.readouterr().out
        base = rulebook.lookup(rid)
        assert base is not None and out.startswith(f"{base.id}  (rules catalog, section "), rid
        assert "Kernel source:" in out or base.id.startswith("HIST-"), rid


def test_every_property_and_cited_section_explains(capsys):
    props = {p.id for p in registry.entry("r1").properties} | {r.id for r in CATALOG}
    for pid in sorted(props):
        assert main(["explain", pid]) == 0, pid
        out = capsys.readouterr().out
        assert out.startswith(f"{pid}: "), pid
    sections = {n for p in registry.entry("r1").properties for n in rulebook.section_refs(p.source)}
    assert sections == {"17"}
    assert main(["explain", "section 17"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "section 17. Deadlock and liveness patterns (interleavings) (rules catalog)"
    assert "  DL-12  Waiting on a fence inside a signalling section." in out


def test_explain_names_the_properties_and_generations(capsys):
    assert main(["explain", "RESV-A1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == "RESV-A1" and data["section"].startswith("15.")
    by = {c["property"]: c for c in data["checked_by"]}
    assert "fence-slot-reserved" in by
    assert by["fence-slot-reserved"]["generations"] == ["v5.7", "v5.8", "v5.9", "v5.19", "v6.2", "v6.6", "v6.16"]
    assert main(["explain", "HIST-4"]) == 0
    assert "Protocol generation: v5.7, v5.8, v5.9 (--kernel)" in capsys.readouterr().out


def test_unknown_id_is_one_line_exit_2(capsys):
    assert main(["explain", "MIG-99"]) == 2
    err = capsys.readouterr().err
    assert err == ("dmabuf-check: error: unknown rule, property or section 'MIG-99' (rules: dmabuf-check list "
                   "--rules; properties: dmabuf-check list --properties)\n")


def test_list_rules_lists_every_rule(capsys):
    assert main(["list", "--rules"]) == 0
    out = capsys.readouterr().out
    for rid in ("REF-1", "MIG-4", "DL-17", "FENCE-LIVE-1"):
        assert f"\n{rid}\n" in out  # 80 columns: one record per rule, its id the heading


@pytest.mark.parametrize("variant", ["B4"])
def test_sarif_rules_carry_the_rule_text_as_help(variant):
    e = registry.entry("r1")
    result = explore(e.build(importers=2, kind="dynamic", variant=variant), registry.select(e, None))
    log = sarif(result)
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    help_ = rules["no-fence-wait-deadlock"]["help"]
    assert help_["text"].startswith("no-fence-wait-deadlock: no cycle in the wait-for graph")
    assert "DL-1: Lock held while waiting, signaller needs the lock" in help_["text"]
    assert "- **SIG-3** (13. SIG:" in help_["markdown"]
    assert all(r["help"]["text"] and r["help"]["markdown"] for r in rules.values())
