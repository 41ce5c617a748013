"""``trace export --as kunit``: KUnit suites for seeded bugs, checked by content and by a real kbuild.

The kbuild test builds the generated modules out of tree against a distribution's
kernel headers (``.ci/run`` installs linux-headers-amd64 where it can); without
headers it is skipped with the reason.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dmabuf_check.traces.export_kunit import module_name, to_kbuild, to_kunit, to_makefile, uses_uapi
from dmabuf_check.traces.format import Trace, load

from dmabuf_check.cli.main import main

# a flag-design seeded bug, a driver program with fences, a lock-across-fence-wait deadlock, a lock inversion
BUGS = ["bug-put-while-attached", "bug-amdkfd-put-before-wait", "bug-lock-across-fence-wait",
        "bug-fence-array-lock-inversion"]


@functools.cache
def _trace_file(name: str, root: str) -> str:
    out = os.path.join(root, name)
    os.makedirs(out, exist_ok=True)
    assert main(["check", name, "--trace-dir", out, "--quiet"]) == 1  # the seeded bug is found
    (path,) = glob.glob(os.path.join(out, "*.trace.json"))
    return path


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> dict[str, Trace]:
    root = str(tmp_path_factory.mktemp("kunit-traces"))
    return {name: load(_trace_file(name, root)) for name in BUGS}


def test_flag_design_bug_is_a_kunit_case_with_kthreads_and_the_property(traces):
    c = to_kunit(traces["bug-put-while-attached"])
    assert "#include <kunit/test.h>" in c and 'MODULE_LICENSE("GPL");' in c
    assert 'MODULE_IMPORT_NS("DMA_BUF");' in c and "MODULE_IMPORT_NS(DMA_BUF);" in c  # both sides of v6.13
    assert re.search(r"KUNIT_CASE\(bug_put_while_attached_attach_holds_ref\)", c)
    assert "kunit_test_suite(bug_put_while_attached_suite);" in c
    assert "kthread_run(bug_put_while_attached_threads[k]" in c
    assert "static int bug_put_while_attached_importer_1_thread(void *data)" in c
    # the real in-kernel calls, in the trace's order, on the test exporter's buffer
    body = c[c.index("bug_put_while_attached_importer_1_thread(void *data)"):]
    order = [body.index(s) for s in ("get_dma_buf(ctx->buf[0])", "dma_buf_attach(ctx->buf[0], ctx->dev[1])",
                                     "dma_buf_put(ctx->buf[0])")]
    assert order == sorted(order)
    assert "dma_buf_export(&exp_info)" in c
    # the exporter stubs are named after the design's callbacks, each with the driver hook to put in
    assert "static int bug_put_while_attached_attach(struct dma_buf *dmabuf, struct dma_buf_attachment *attach)" in c
    assert ".map_dma_buf = bug_put_while_attached_map_dma_buf," in c
    assert "TODO: the driver's attach hook (drivers/dma-buf/heaps/system_heap.c)" in c
    # the property att[i] => ref[i] over what the test observed of the attachment and its references
    assert "KUNIT_EXPECT_TRUE_MSG(test, bug_put_while_attached_property_holds(x)" in c
    assert "x[8] = ctx->att[1] != NULL;" in c and "x[7] = ctx->ref[1];" in c
    assert "attach-holds-ref violated" in c


def test_driver_program_with_fences_checks_the_use_after_free(traces):
    c = to_kunit(traces["bug-amdkfd-put-before-wait"])
    p = "bug_amdkfd_put_before_wait"
    assert f"static int {p}_submit_ib_thread(void *data)" in c and f"static int {p}_irq_thread(void *data)" in c
    assert f"ctx->f_ib_fence = {p}_fence_create(ctx, 2);" in c  # the model's two references
    assert "dma_fence_put(ctx->f_ib_fence);" in c and "dma_fence_signal(ctx->f_ib_fence);" in c
    # the hand-off: the irq thread waits for submit_ib's put before it signals and puts
    irq = c[c.index(f"{p}_irq_thread(void *data)"):]
    assert irq.index(f"{p}_turn(ctx, 1)") < irq.index("dma_fence_signal(ctx->f_ib_fence)")
    assert "complete_all(&ctx->done[call]);" in c and "wait_for_completion_timeout(&ctx->done[call]" in c
    # the wait after the last put is the use-after-free; KASAN's report is named where it would come
    assert "dma_fence_wait_timeout(ctx->f_ib_fence" in c
    assert "KUNIT_EXPECT_TRUE_MSG(test, !ctx->use_after_free" in c
    assert "BUG: KASAN: slab-use-after-free" in c


def test_deadlock_is_bounded_calls_and_an_expectation_on_them(traces):
    c = to_kunit(traces["bug-lock-across-fence-wait"])
    p = "bug_lock_across_fence_wait"
    assert f"{p}_mutex_lock(ctx, &ctx->lk_job_lock" in c  # the driver's job_lock, taken by the exporter
    assert "dma_resv_wait_timeout(ctx->buf[0]->resv, DMA_RESV_USAGE_BOOKKEEP, false," in c
    hw = c[c.index(f"{p}_hardware_thread(void *data)"):]
    assert "dma_fence_signal(" in hw and f"{p}_mutex_lock(" in hw  # the signal path that needs job_lock
    assert "KUNIT_EXPECT_EQ_MSG(test, atomic_read(&ctx->blocked), 0" in c
    assert "wait-for cycle exporter -> ef -> lock job_lock -> exporter" in c


def test_lock_inversion_expects_no_lockdep_report(traces):
    c = to_kunit(traces["bug-fence-array-lock-inversion"])
    assert "KUNIT_EXPECT_TRUE_MSG(test, debug_locks," in c  # lockdep turns debug_locks off when it reports
    assert "CONFIG_PROVE_LOCKING" in c
    assert c.count("KUNIT_CASE(") == 1


def test_only_uapi_traces_are_kselftests(traces, tmp_path, capsys):
    assert not any(uses_uapi(t) for t in traces.values())
    path = _trace_file("bug-put-while-attached", str(tmp_path))
    assert main(["trace", "export", path, "--as", "kselftest", "-o", str(tmp_path / "k.c")]) == 2
    err = capsys.readouterr().err
    assert "in-kernel calls only" in err and "--as kunit" in err and err.count("\n") == 1
    assert not (tmp_path / "k.c").exists()
    uapi = _trace_file("bug-mmap-no-file-ref", str(tmp_path))  # udmabuf: mmap(fd) is uAPI
    assert uses_uapi(load(uapi))
    assert main(["trace", "export", uapi, "--as", "kselftest", "-o", str(tmp_path / "u.c")]) == 0
    assert "in-kernel calls only" not in capsys.readouterr().err


def test_export_to_a_directory_writes_the_c_file_and_its_build_files(traces, tmp_path, capsys):
    path = _trace_file("bug-put-while-attached", str(tmp_path))
    out = tmp_path / "suite"
    assert main(["trace", "export", path, "--as", "kunit", "-o", str(out) + "/"]) == 0
    name = module_name(load(path))
    assert sorted(os.listdir(out)) == sorted([f"{name}.c", "Kbuild", "Makefile"])
    assert (out / "Kbuild").read_text() == f"obj-m += {name}.o\n"
    assert "M=$(CURDIR) modules" in (out / "Makefile").read_text()
    assert "wrote kunit to" in capsys.readouterr().err
    assert main(["trace", "export", path, "--as", "kunit", "-o", "-"]) == 0
    assert "KUNIT_CASE(" in capsys.readouterr().out


def _headers() -> tuple[Path | None, str]:
    """A kernel build directory to build against, or None and why there is none."""
    cands = glob.glob(f"/lib/modules/{os.uname().release}/build") + sorted(glob.glob("/usr/src/linux-headers-*-amd64"))
    cands += sorted(glob.glob("/lib/modules/*/build"))
    for c in cands:
        if os.path.isfile(os.path.join(c, "Makefile")) and os.path.isfile(os.path.join(c, ".config")):
            return Path(c), ""
    return None, ("no kernel headers: neither /lib/modules/*/build nor /usr/src/linux-headers-*-amd64 "
                  "(apt-get install linux-headers-amd64 provides them)")


def test_kunit_modules_build_against_distribution_headers(traces, tmp_path):
    kdir, why = _headers()
    if kdir is None or not shutil.which("make") or not shutil.which("gcc"):
        reason = why or "make or gcc is not installed"
        print(f"kunit kbuild test skipped: {reason}")
        pytest.skip(reason)
    build = tmp_path / "kbuild"
    build.mkdir()
    names = []
    for t in traces.values():
        name = module_name(t)
        names.append(name)
        (build / f"{name}.c").write_text(to_kunit(t))
    (build / "Kbuild").write_text("".join(to_kbuild(t) for t in traces.values()))
    (build / "Makefile").write_text(to_makefile(next(iter(traces.values()))))
    config = (kdir / ".config").read_text()
    env = dict(os.environ)
    no_kunit = not re.search(r"^CONFIG_KUNIT=[ym]$", config, re.M)
    if no_kunit:  # the kernel cannot load KUnit modules: still compile and link everything but kunit_*
        print(f"{kdir}: CONFIG_KUNIT is not set, so kunit_* symbols stay undefined (KBUILD_MODPOST_WARN=1)")
        env["KBUILD_MODPOST_WARN"] = "1"
    r = subprocess.run(["make", "-C", str(kdir), f"M={build}", "W=1", "-j2", "modules"], capture_output=True,
                       text=True, timeout=240, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    for name in names:
        assert (build / f"{name}.ko").exists(), out[-2000:]
    warnings = [line for line in out.splitlines() if "warning" in line.lower() and any(n in line for n in names)]
    undefined = [line for line in warnings if "undefined!" in line]
    assert all(re.search(r'"(__)?kunit_\w+"', line) for line in undefined), undefined  # dma-buf symbols resolve
    assert [line for line in warnings if "undefined!" not in line] == []  # W=1 clean, namespaces imported
    assert no_kunit or not undefined
