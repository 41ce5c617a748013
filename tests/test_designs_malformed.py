"""Malformed designs: each file of tests/data/bad_designs/ gets its own one-line message and exit 2."""

import glob
import os

import pytest

from dmabuf_check.cli.main import main

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bad_designs")
FILES = sorted(glob.glob(os.path.join(HERE, "*.py")))


def expected(path: str) -> str:
    with open(path) as f:
        first = f.readline()
    assert first.startswith("# expect: "), f"{path} lacks its '# expect:' line"
    return first[len("# expect: "):].strip()


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_corpus_is_large_enough():
    assert len(FILES) >= 30


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(p)[:-3] for p in FILES])
def test_malformed_design_is_one_line_and_exit_2(capsys, path):
    code, out, err = run_cli(capsys, "check", path, "--quiet")
    assert code == 2
    assert expected(path) in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out
    assert out == ""


def test_every_malformed_design_has_its_own_message(capsys):
    messages = set()
    for path in FILES:
        _, _, err = run_cli(capsys, "check", path, "--quiet")
        messages.add(err.replace(path, "<file>"))
    assert len(messages) == len(FILES)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["check", "ttm-vram", "--mix", "static=1,gpu=2"], "--mix: unknown importer kind 'gpu'"),
        (["check", "ttm-vram", "--mix", "static"], "--mix: expected KIND=N, got 'static'"),
        (["check", "ttm-vram", "--mix", "static=x"], "--mix: static='x' is not a whole number"),
        (["check", "ttm-vram", "--mix", "static=0"], "--mix: needs at least one importer"),
        (["check", "ttm-vram", "--mix", "static=1", "--importers", "2"], "--importers 2 disagrees with --mix"),
        (["check", "udmabuf", "--mix", "p2p=1"], "design udmabuf does not support p2p importers"),
        (["check", "ttm-vram", "--kernel", "v9.9"], "unknown kernel profile 'v9.9'"),
        (["check", "ttm-vram", "--kernel", "v3.3"], "ops['pin'].waits: the v3.3 contract has no fences"),
        (["check", "rfc2011-reference", "--kernel", "v6.16"], "move.locks: a move must hold the buffer's resv lock"),
        (["check", "ttm-vram", "--buffers", "3"], "--buffers must be 1 or 2, got 3"),
        # refused before the mix is expanded to a list of that many kinds (these hung)
        (["check", "ttm-vram", "--importers", "99999999999"], "at most 6 importers, got 99999999999"),
        (["check", "ttm-vram", "--mix", "dynamic=10000000000000000000"], "--mix: at most 6 importers, got 1"),
        (["check", "ttm-vram", "--variant", "B4"], "--variant applies to r1"),
        (["check", "ttm-vram", "--property", "no-such"], "unknown property 'no-such' for design ttm-vram"),
        (["check", "r1", "--kernel", "v6.2"], "--kernel applies to designs, not to r1"),
        (["check", "no-such-design.py"], "design file no-such-design.py not found"),
        (["check", "ttm-vramm"], "unknown model 'ttm-vramm'"),
        (["list", "--profile", "v1.0"], "unknown kernel profile 'v1.0'"),
    ],
)
def test_bad_design_options_are_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out
