"""``dmabuf-check prove``: exit codes, certificates, counterexamples, counterexamples to induction."""

from __future__ import annotations

import json

import pytest

from dmabuf_check.cli.main import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["prove", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_proved_properties_exit_0_with_their_certificates(capsys, tmp_path):
    report = tmp_path / "proof.json"
    code, out, _ = run_cli(capsys, "r1", "-n", "2", "--kind", "static", "--property",
                           "map-after-attach,no-migration-while-mapped", "--json", str(report), "--quiet")
    assert code == 0
    assert "map-after-attach proved (inductive; independently re-checked" in out
    assert "∧ ∀i. map[i] = 1 ⇒ att[i] = 1" in out
    assert "∧ pins = #{i | map[i] = 1}" in out
    data = json.loads(report.read_text())
    assert data["schema"] == "dmabuf-check proof v1" and data["importers"] == 2
    assert [r["status"] for r in data["results"]] == ["proved", "proved"]
    assert data["results"][0]["certificate"]["checked"] is True


def test_a_violation_exits_1_with_numbered_steps(capsys):
    code, out, _ = run_cli(capsys, "r1", "-n", "2", "--kind", "static", "--variant", "B1", "--engine", "bmc",
                           "--depth", "8", "--property", "no-migration-while-mapped", "--quiet")
    assert code == 1
    assert "no-migration-while-mapped violated after 6 steps:" in out
    lines = [x for x in out.splitlines() if x.strip()[:2] in {f"{k}." for k in range(1, 7)}]
    assert len(lines) == 6 and "migrate_end" in lines[-1] and "storage=VRAM" in lines[-1]


def test_b4_prints_its_wait_for_cycle(capsys):
    code, out, _ = run_cli(capsys, "r1", "-n", "2", "--variant", "B4", "--engine", "bmc", "--depth", "9",
                           "--property", "no-fence-wait-deadlock", "--quiet")
    assert code == 1
    assert "wait-for cycle: exporter -> fence" in out
    assert "2 candidate wait-for cycles: 2 reachable, 0 proved unreachable, 0 open" in out


@pytest.mark.parametrize("argv,message", [
    (["r9"], "unknown model 'r9'"),
    (["r1", "--property", "no-such-thing"], "unknown property 'no-such-thing'"),
    (["r1", "--all-n", "--engine", "kind"], "--all-n has its own engine"),
    (["r1", "--kind", "static", "--variant", "B2"], "is defined for dynamic"),
    (["r1", "--property", "fence-signals"], "is a liveness property"),
    (["r1", "--lemmas", "/nonexistent/lemmas.py"], "--lemmas: no such file"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_bmc_without_a_violation_is_a_limit_exit_3(capsys):
    code, out, _ = run_cli(capsys, "r1", "-n", "2", "--engine", "bmc", "--depth", "4", "--property",
                           "attach-holds-ref", "--quiet")
    assert code == 3 and "no violation up to depth 4" in out


def test_a_timeout_is_unknown_and_exit_3(capsys):
    code, out, _ = run_cli(capsys, "r1", "-n", "3", "--kind", "static", "--engine", "kind", "--no-lemmas",
                           "--timeout", "1", "--property", "no-migration-while-mapped", "--quiet")
    assert code == 3 and "unknown" in out


def test_all_n_proof_and_counterexample_to_induction(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "r1", "--all-n", "--kind", "static", "--property", "no-migration-while-mapped",
                           "--quiet")
    assert code == 0 and "inductive for every N" in out and "(every N)" in out, out
    code, out, _ = run_cli(capsys, "r1", "--all-n", "--kind", "static", "--no-lemmas", "--timeout", "120",
                           "--property", "no-migration-while-mapped", "--quiet")
    assert code == 3, out
    assert "counterexample to induction with 1 importer" in out, out
    assert "before: storage=" in out and "step:   migrate_end" in out and "after:  storage=" in out, out


def test_all_n_outside_the_fragment_has_its_own_exit_code(capsys):
    # not a resource limit (3): more time would not decide it; the fixed-N engines prove it per N
    code, out, _ = run_cli(capsys, "r1", "--all-n", "--kind", "static", "--property", "no-fence-wait-deadlock",
                           "--quiet")
    assert code == 5 and "cannot prove for all N in this fragment" in out, out
    code, _out, _ = run_cli(capsys, "r1", "--all-n", "--kind", "static", "--property", "no-fence-wait-deadlock",
                            "--property", "no-migration-while-mapped", "--quiet")
    assert code == 5
    from dmabuf_check.checker.z3.proof import ProofResult

    from dmabuf_check.cli.cmd_prove import exit_code

    assert exit_code([ProofResult("a", "unknown", "all-n", None, outside=True),
                      ProofResult("b", "unknown", "all-n", None, note="timeout")]) == 3  # a limit stays a limit


@pytest.mark.parametrize("engine", ["bmc", "kind"])
def test_the_timeout_covers_the_lemma_phase_on_a_design(capsys, engine):
    # the candidate filtering and Houdini's encoding used to run before any deadline (about 30 s on ttm-vram
    # with --timeout 5); they now stop with the budget, which is sound (fewer lemmas, an unknown)
    import time

    t0 = time.perf_counter()
    code, out, _ = run_cli(capsys, "ttm-vram", "--engine", engine, "--timeout", "3", "--property",
                           "implicit-sync-devices", "--quiet")
    assert code == 3 and "unknown" in out
    assert time.perf_counter() - t0 < 3 + 2.5, out  # model build and start-up on top of the budget


def test_user_lemmas_from_a_file(capsys, tmp_path):
    lemma_file = tmp_path / "lemmas.py"
    lemma_file.write_text(
        "from dmabuf_check.model.expr import count, forall\n"
        "def lemmas(m):\n"
        "    mp, exp, owner, pins = m.variable('map'), m.variable('exp').ref(), m.variable('owner').ref(), "
        "m.variable('pins').ref()\n"
        "    procs = m.index_sets['importers']\n"
        "    return [pins == count(procs, lambda j: mp[j] == 1),\n"
        "            forall(procs, lambda j: (mp[j] == 1).implies(exp == 'IDLE')),\n"
        "            (exp == 'WAIT').implies(owner == 'EXP')]\n")
    code, out, _ = run_cli(capsys, "r1", "--all-n", "--kind", "static", "--no-lemmas", "--lemmas", str(lemma_file),
                           "--property", "no-migration-while-mapped", "--quiet")
    assert code == 0 and "∧ exp = WAIT ⇒ owner = EXP" in out


def test_a_design_is_proved_by_the_same_back_end(capsys):
    code, out, _ = run_cli(capsys, "udmabuf", "--property", "attach-holds-ref", "--quiet")
    assert code == 0 and "udmabuf, N=3" in out and "∧ ∀i. att[i] = 1 ⇒ ref[i] = 1" in out
