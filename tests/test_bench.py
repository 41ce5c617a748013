"""The benchmark command measures the same state counts the tests assert."""

import json

from dmabuf_check.cli.main import main


def test_bench_runs_fresh_processes_and_matches_expected_counts(tmp_path, capsys, expected_r1):
    out = tmp_path / "bench.json"
    assert main(["bench", "--max-n", "2", "--kind", "dynamic", "--json", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]
    assert [(r["importers"], r["symmetry"]) for r in runs] == [(1, True), (1, False), (2, True), (2, False)]
    for r in runs:
        key = "symmetry_reduced_states" if r["symmetry"] else "states"
        assert r["states"] == r["expected_states"] == expected_r1[key]["dynamic"][str(r["importers"])]
        assert r["time_to_verdict_s"] > 0 and r["peak_memory_mib"] > 0 and r["bytes_per_state"] > 0
    assert "R1 benchmark" in capsys.readouterr().out
