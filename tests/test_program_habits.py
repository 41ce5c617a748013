"""What a driver author writes by habit: brackets in kernel text, Python comparisons, a signaled test."""

from __future__ import annotations

import pytest
from dmabuf_check.model.driver import Driver
from dmabuf_check.model.types import ModelError

from tests.test_cli import run_cli
from tests.test_driver_programs import holds, run


def test_brackets_in_a_call_text_are_printed_as_written(tmp_path, capsys, monkeypatch):
    src = tmp_path / "ctx.py"
    src.write_text("from dmabuf_check.model.driver import Driver\n"
                   "d = Driver('ctx')\n"
                   "obj = d.kref('obj', live=True, owners=('t',))\n"
                   "@d.thread('t')\n"
                   "def t(k):\n"
                   "    k.kref_put(obj, 'dma_fence_put(centity->fences[idx])')\n"
                   "    k.use(obj, 'other = centity->fences[idx]; [bold]x[/bold]')\n"
                   "DESIGN = d\n")
    monkeypatch.setenv("COLUMNS", "200")
    for fmt in ("rich", "plain"):
        code, out, _err = run_cli(capsys, "check", str(src), "--format", fmt)
        assert code == 1
        # rich markup would eat [idx] and [bold]: the step table and the why line keep them
        assert "dma_fence_put(centity->fences[idx])" in out
        assert "other = centity->fences[idx]; [bold]x[/bold]" in out


@pytest.mark.parametrize("call", ["goto_if", "if_", "warn_on"])
def test_a_python_bool_condition_is_refused_not_silently_false(call):
    d = Driver("bool-cond")
    cnt = d.field("cnt", max_value=2)

    @d.thread("t")
    def t(k):
        cond = cnt == 0  # compares the Field object: always False in Python
        if call == "goto_if":
            k.goto_if(cond, "out")
            k.label("out")
        elif call == "if_":
            with k.if_(cond):
                k.inc(cnt)
        else:
            k.warn_on(cond, "WARN_ON(cnt == 0)")

    with pytest.raises(ModelError, match=rf"thread t: {call}: the condition is the Python value False, not model "
                                         r"state; write it on a field's value \(f.value == 0"):
        d.build(None)


def test_a_python_bool_invariant_is_refused():
    d = Driver("bool-inv")
    cnt = d.field("cnt")
    d.invariant(lambda: cnt == 0, "cnt is zero")

    @d.thread("t")
    def t(k):
        k.inc(cnt)

    with pytest.raises(ModelError, match="invariant 'cnt is zero': its condition is the Python value False"):
        d.build(None)


def is_signaled_fast_path(takes_ref: bool) -> Driver:
    """``if (dma_fence_is_signaled(f)) return;`` before a wait, on a fence another thread publishes and drops."""
    d = Driver("is-signaled")
    f = d.fence("f", live=True, owners=("irq", "waiter") if takes_ref else ("irq",))
    d.gpu("irq", signals=f)

    @d.thread("waiter")
    def waiter(k):
        k.dma_fence_is_signaled(f, signaled="done")
        k.dma_fence_wait(f)
        k.label("done")
        if takes_ref:
            k.dma_fence_put(f)

    return d


def test_dma_fence_is_signaled_branches_and_reads_a_live_fence():
    violated, *_ = run(is_signaled_fast_path(takes_ref=False))
    assert violated == {"use-after-free": 3}  # the irq signals, drops the only reference, the fence is freed
    assert holds(is_signaled_fast_path(takes_ref=True)) > 0


def test_an_object_passed_where_the_slot_names_it_gets_a_hint(tmp_path, capsys):
    src = tmp_path / "pub.py"
    src.write_text("from dmabuf_check.model.driver import Driver\n"
                   "d = Driver('pub')\n"
                   "obj = d.kref('obj', live=True, owners=('t',))\n"
                   "sl = d.slot('list', obj, kind='list')\n"
                   "@d.thread('t')\n"
                   "def t(k):\n"
                   "    k.publish(sl, obj, text='list_add')\n"
                   "DESIGN = d\n")
    code, _out, err = run_cli(capsys, "check", str(src))
    assert code == 2 and err.count("\n") == 1
    assert "k.publish() at pub.py:7: TypeError: Code.publish() got multiple values for argument 'text' (one " \
           "argument too many: a slot or " \
           "pointer already names its object, so the next one is the text)" in err
