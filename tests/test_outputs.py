"""Output paths: every path a user can give is written, or refused in one line with exit 2; nothing is clobbered."""

from __future__ import annotations

import os
import re
import stat

import pytest

from dmabuf_check.cli import exitcodes
from dmabuf_check.cli.main import main

B4 = ["check", "r1", "-n", "2", "--variant", "B4", "--quiet"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("flag", ["--json", "--sarif", "--junit"])
def test_an_output_that_is_a_directory_is_refused_before_the_search(tmp_path, capsys, flag):
    assert main([*B4, flag, str(tmp_path)]) == exitcodes.USAGE
    assert f"{flag} {tmp_path}: it is a directory" in one_line_error(capsys)


def test_a_file_in_the_way_empty_names_and_long_names_are_refused(tmp_path, capsys):
    f = tmp_path / "f"
    f.write_text("keep me\n")
    assert main([*B4, "--trace-dir", str(f)]) == exitcodes.USAGE
    assert "a file of that name exists (it needs a directory)" in one_line_error(capsys)
    assert main([*B4, "--json", str(f / "x.json")]) == exitcodes.USAGE
    assert "is a file, not a directory" in one_line_error(capsys)
    assert main([*B4, "--json", ""]) == exitcodes.USAGE
    assert "--json: the path is empty" in one_line_error(capsys)
    assert main([*B4, "--sarif", str(tmp_path / ("x" * 300))]) == exitcodes.USAGE
    assert "longer than 255 bytes" in one_line_error(capsys)
    assert f.read_text() == "keep me\n"


def test_missing_directories_are_created(tmp_path, capsys):
    out = tmp_path / "new" / "dir"
    assert main([*B4, "--json", str(out / "v.json"), "--trace-dir", str(out / "traces")]) == exitcodes.VIOLATED
    assert (out / "v.json").is_file() and len(list((out / "traces").glob("*.trace.json"))) == 1


def test_a_device_node_is_written_in_place_never_replaced(capsys):
    assert main([*B4, "--json", "/dev/null", "--sarif", "/dev/null"]) == exitcodes.VIOLATED
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)  # still the device, not a regular file renamed over it
    assert not [n for n in os.listdir("/dev") if n.startswith(".null.")]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_device_is_an_error_not_a_silent_success(capsys):
    assert main([*B4, "--json", "/dev/full"]) == exitcodes.USAGE
    assert "cannot write /dev/full: No space left on device" in one_line_error(capsys)


def test_an_internal_error_has_its_own_exit_code_and_one_line(monkeypatch, capsys):
    import dmabuf_check.cli.cmd_check as cmd_check

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(cmd_check, "check_model", broken)
    assert main(["check", "r1", "-n", "1"]) == exitcodes.INTERNAL == 4
    err = one_line_error(capsys)
    assert err.startswith("dmabuf-check: internal error: RuntimeError: boom (a bug in dmabuf-check;")


def test_an_infinite_timeout_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        main(["prove", "r1", "-n", "1", "--timeout", "inf"])
    assert e.value.code == exitcodes.USAGE
    assert "expected a finite number above 0, got inf" in one_line_error(capsys)


def test_a_check_logs_progress_lines_when_stderr_is_a_log_file(capsys):
    assert main(["check", "r1", "-n", "4", "--no-symmetry", "--progress-every", "0.05"]) == exitcodes.OK
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(re.fullmatch(r"dmabuf-check: states [\d,]+ +\([\d,]+/s\) +depth \d+ +frontier [\d,]+ +"
                                      r"memory [\d,]+ MiB +[\d.]+ s", x) for x in lines), lines
    assert main(["check", "r1", "-n", "4", "--no-symmetry", "--progress-every", "0.05", "--quiet"]) == exitcodes.OK
    assert capsys.readouterr().err == ""


def test_piped_output_fits_tables_to_80_columns_and_never_breaks_a_line_of_prose(capsys):
    assert main(["check", "r1", "-n", "2", "--variant", "B4", "--quiet"]) == exitcodes.VIOLATED
    out = capsys.readouterr().out.splitlines()
    table = [x for x in out if "│" in x or "┃" in x]
    assert table and max(len(x) for x in table) <= 80  # $COLUMNS unset: 80
    why = [x for x in out if x.startswith("why: ")]
    assert len(why) == 1 and why[0].endswith("yet this wait never ends")  # one line, grep finds it whole
    assert [x for x in out if x != x.rstrip()] == []
    assert not any("\x1b[" in x for x in out)  # no colour codes in a log


@pytest.mark.parametrize("where", ["before", "after"])
def test_format_plain_is_ascii_tables_and_prose_wrapped_for_a_mail(monkeypatch, capsys, where):
    monkeypatch.setenv("COLUMNS", "72")
    argv = ["check", "r1", "-n", "2", "--variant", "B4", "--quiet"]
    argv = ["--format", "plain", *argv] if where == "before" else [*argv, "--format", "plain"]
    assert main(argv) == exitcodes.VIOLATED
    out = capsys.readouterr().out.splitlines()
    assert out and max(len(x) for x in out) <= 72
    assert not any(c in x for x in out for c in "│┃━╇┏┓└┘"), out  # ASCII borders
    assert any(x.startswith("# | actor ") for x in out) and any(x.startswith("==+=") for x in out)
    why = out.index(next(x for x in out if x.startswith("why: ")))
    assert out[why + 1].startswith("  ")  # a wrapped line hangs under its first
    assert [x for x in out if x != x.rstrip()] == []
    assert main(["check", "r1", "-n", "2", "--variant", "B4", "--quiet"]) == exitcodes.VIOLATED  # not sticky
    assert any("│" in x for x in capsys.readouterr().out.splitlines())


def test_format_is_refused_with_its_choices(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--format", "html", "list"])
    assert e.value.code == exitcodes.USAGE
    assert "invalid choice: 'html'" in one_line_error(capsys)


def test_a_listing_is_a_table_when_wide_and_records_when_narrow(monkeypatch, capsys):
    assert main(["list", "--designs"]) == exitcodes.OK
    out = capsys.readouterr().out
    assert "\nttm-vram\n  kernel       v6.16\n" in out  # 80 columns: one record per block
    assert "  follows      drivers/gpu/drm/amd/amdgpu/amdgpu_dma_buf.c;\n" in out  # a path is never cut
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["list", "--designs"]) == exitcodes.OK
    out = capsys.readouterr().out
    assert "┃ design " in out and "drivers/gpu/drm/amd/amdgpu/amdgpu_dma_buf.c" in out


def test_prove_logs_progress_while_a_proof_runs(capsys):
    argv = ["prove", "r1", "-n", "3", "--kind", "dynamic", "--property", "pin-count", "--progress-every", "0.1"]
    assert main(argv) == exitcodes.OK
    err = capsys.readouterr().err.splitlines()
    beats = [x for x in err if re.fullmatch(r"dmabuf-check: pin-count: .+ \([\d.]+ s\)", x)]
    assert len(beats) >= 2 and any("houdini" in x for x in beats), err  # the engine's steps, as they come
    assert err[-1].startswith("pin-count: proved (")
    assert main([*argv, "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_locks_logs_progress_too(capsys):
    assert main(["locks", "r1", "-n", "4", "--no-symmetry", "--progress-every", "0.05"]) == exitcodes.OK
    err = capsys.readouterr().err.splitlines()
    assert err and all(x.startswith("dmabuf-check: states ") for x in err), err


def test_a_fifo_a_symlink_to_a_device_and_a_directory_are_never_replaced(tmp_path, capsys):
    """A named pipe nobody reads is one line (an open would block forever); one with a reader gets the JSON
    in place; a symlink to /dev/null stays a symlink to the device; a directory is refused."""
    import json
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert main([*B4, "--json", str(fifo)]) == exitcodes.USAGE
    assert "a named pipe with no reader" in one_line_error(capsys)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    import time

    time.sleep(0.2)  # the reader blocks in open() until the writer comes
    assert main([*B4, "--json", str(fifo)]) == exitcodes.VIOLATED
    reader.join(timeout=30)
    assert json.loads(got[0])["verdict"] == "violated" and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    capsys.readouterr()
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    assert main([*B4, "--json", str(link), "--sarif", str(link)]) == exitcodes.VIOLATED
    assert os.path.islink(link) and os.readlink(link) == "/dev/null" and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    capsys.readouterr()
    d = tmp_path / "dir"
    d.mkdir()
    assert main([*B4, "--json", str(d)]) == exitcodes.USAGE
    assert "is a directory" in one_line_error(capsys) and d.is_dir()
