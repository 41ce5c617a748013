"""Export a trace as a C test skeleton in the kernel selftest style.

The skeleton is what a kernel engineer would write by hand to reproduce the
race, minus the driver-specific parts: one pthread per actor (exporter,
importer 1..N, the hardware signalling fences) makes the trace's dma-buf
calls in order; a step counter with a condition variable
(``dmabuf_model_turn`` / ``dmabuf_model_done`` in the shipped header
``traces/kselftest/dmabuf_model.h``) hands control from one thread to the
next exactly at the hand-offs, where the interleaving matters. Every step
carries a comment: the action, its meaning and rule, and what it changed.

At the end the calls the model says never complete (a wait-for cycle) are
issued with a timeout, every model variable is observed through the
``dmabuf_model_observe`` hook, and the violated property, compiled from the
model's own predicate into C, decides the TAP result: ``not ok`` means the
bug is reproduced on the system under test.

Call templates are pseudo-C ("dma_buf_get(fd) -> dmabuf", "move storage");
``c_statements`` turns them into C: ``x -> y`` becomes an assignment, trailing
arguments the template leaves out get their usual values, and a step that is
not a function call becomes a ``dmabuf_model_action`` hook call.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from dmabuf_check.model.expr import Expr, Op, Quant
from dmabuf_check.model.lang import Model
from dmabuf_check.model.pycompile import Compiled, ExprCompiler
from dmabuf_check.model.typecheck import cast_table, resolve_condition
from dmabuf_check.model.types import EnumType, RangeType, RefType
from dmabuf_check.properties.base import Property
from dmabuf_check.traces.evaluate import Judge
from dmabuf_check.traces.explain import explain
from dmabuf_check.traces.format import Trace, lane_of
from dmabuf_check.traces.render_calls import blocked_calls, call_line

HEADER = Path(__file__).resolve().parent / "kselftest" / "dmabuf_model.h"

# Arguments a call template leaves out, appended so the call matches the kernel signature.
TRAILING_ARGS: dict[str, tuple[int, list[str]]] = {
    "dma_resv_wait_timeout": (2, ["false", "DMABUF_MODEL_TIMEOUT"]),
}
# Calls that return 0 when they time out: the skeleton reports them as blocked.
TIMED = {"dma_resv_wait_timeout"}
# C types of the objects the calls name, by identifier pattern.
TYPES: list[tuple[str, str]] = [
    (r"dmabuf", "struct dma_buf *"),
    (r"att\d+", "struct dma_buf_attachment *"),
    (r"sgt\d+", "struct sg_table *"),
    (r"dev\d+", "struct device *"),
    (r"job\d+_fence", "struct dma_fence *"),
    (r"fd", "int "),
    (r"priv", "void *"),
]
_CALL = re.compile(r"([A-Za-z_]\w*)\((.*)\)")


def ascii_text(text: str) -> str:
    """Kernel sources are ASCII: arrows become ->, anything else non-ASCII (and control characters but
    newline and tab, NUL above all) becomes '?'."""
    text = text.replace("→", "->").encode("ascii", "replace").decode("ascii")
    return "".join(c if c >= " " or c in "\n\t" else "?" for c in text)


def c_string(text: str) -> str:
    text = ascii_text(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def c_comment(text: str) -> str:
    return ascii_text(text).replace("*/", "* /")


def comment_block(lines: list[str], indent: str = "\t", width: int = 96) -> list[str]:
    """A kernel-style block comment, each line wrapped to ``width`` columns."""
    out = [f"{indent}/*"]
    for line in lines:
        wrapped = textwrap.wrap(c_comment(line), width, subsequent_indent="  ", break_on_hyphens=False)
        out += [f"{indent} * {w}".rstrip() for w in wrapped] or [f"{indent} *"]
    return out + [f"{indent} */"]


def _split_args(args: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in args:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        cur += ch
    return out + ([cur.strip()] if cur.strip() else [])


def c_statements(call: str, action: str, hooks_only: bool = False) -> list[str]:
    """C statements (and comments) for one call template with its members filled in. ``hooks_only``: a
    driver program's calls name the driver's own objects, so every step goes through the test hook."""
    if hooks_only:
        return [f"dmabuf_model_action({c_string(action)}, {c_string(call)});"]
    out: list[str] = []
    for part in (p.strip() for p in call.split(";")):
        if not part:
            continue
        comment = ""
        m = re.search(r"/\*(.*?)\*/\s*$", part)
        if m:
            comment, part = m.group(1).strip(), part[:m.start()].strip()
        target = ""
        if " -> " in part:
            part, target = (x.strip() for x in part.rsplit(" -> ", 1))
        fn = _CALL.fullmatch(part)
        if fn:
            name, args = fn.group(1), _split_args(fn.group(2))
            if name in TRAILING_ARGS and len(args) == TRAILING_ARGS[name][0]:
                args += TRAILING_ARGS[name][1]
            stmt = f"{name}({', '.join(args)})"
            stmt = f"{target} = {stmt};" if target else f"{stmt};"
        else:  # a step with no dma-buf call of its own: the driver's test hook performs it
            stmt = f"dmabuf_model_action({c_string(action)}, {c_string(part)});"
        out.append(stmt + (f" /* {c_comment(comment)} */" if comment else ""))
    return out


class CExpr(ExprCompiler):
    """The model's expressions as C over ``x[slot]`` (the explicit engine's compiler, C syntax)."""

    def _e(self, e: Expr, env, names) -> str:  # type: ignore[override]
        if isinstance(e, Quant):
            parts = [self._e(e.body, {**env, e.param: m}, names) for m in e.param.index.members()]
            op, empty = {"forall": (" && ", "1"), "exists": (" || ", "0")}.get(e.kind, (" + ", "0"))
            return "(" + op.join(f"({p})" for p in parts) + ")" if parts else empty
        if isinstance(e, Op):
            a = e.args
            if e.op in ("and", "or"):
                return "(" + (" && " if e.op == "and" else " || ").join(self._e(x, env, names) for x in a) + ")"
            if e.op == "not":
                return f"(!{self._e(a[0], env, names)})"
            if e.op == "implies":
                return f"(!{self._e(a[0], env, names)} || {self._e(a[1], env, names)})"
            if e.op == "ite":
                c, x, y = (self._e(z, env, names) for z in a)
                return f"({c} ? {x} : {y})"
            if e.op == "enum_cast":
                table = cast_table(a[0].type, e.type)  # type: ignore[arg-type]
                return f"((const int[]){{{', '.join(map(str, table))}}})[{self._e(a[0], env, names)}]"
        return super()._e(e, env, names)


def property_c(c: Compiled, model: Model, prop: Property) -> str:
    """The property's predicate as a C expression over ``x[]``."""
    names = {s: f"x[{s}]" for s in range(c.layout.size)}
    return CExpr(c.layout).expr(resolve_condition(model, prop.predicate(model), prop.id), {}, names)


def encoding(c: Compiled, slot: int) -> str:
    v, _ = c.layout.slot_vars[slot]
    t = v.type
    if isinstance(t, EnumType):
        return " ".join(f"{k}={label}" for k, label in enumerate(t.labels))
    if isinstance(t, RefType):
        return " ".join([f"{k}={s}" for k, s in enumerate(t.specials)]
                        + [f"{len(t.specials) + m}={t.index.member_label} {m + 1}" for m in t.index.members()])
    if isinstance(t, RangeType):
        return f"{t.lo}..{t.hi}"
    return "0/1"


def _thread_name(lane: str) -> str:
    return re.sub(r"\W+", "", lane.replace(" ", "")) + "_thread"


def to_kselftest(trace: Trace) -> str:
    """The C skeleton for ``trace`` (include dir: ``HEADER.parent``)."""
    hooks_only = "driver" in trace.params  # a driver program: its own objects, performed by the test hook
    judge = Judge.for_trace(trace)
    c, model = judge.c, judge.model
    why = explain(trace)
    states = trace.states()
    n_steps = trace.length
    blocked = [b for b in blocked_calls(trace, judge) if b.lane and b.call]
    lanes = [lane for lane in trace.actors()
             if any(lane_of(s.actor) == lane for s in trace.steps) or any(b.lane == lane for b in blocked)]
    body: dict[str, list[str]] = {lane: [] for lane in lanes}
    code_text: list[str] = []
    prev_lane = ""
    for n, st in enumerate(trace.steps, 1):
        lane = lane_of(st.actor)
        act = model.action_named(st.action)
        line = call_line(n, st, states[n - 1])
        stmts = c_statements(st.call, st.action, hooks_only)
        code_text += stmts
        out = body[lane]
        if trace.loop is not None and n == trace.loop + 1:
            out.append(f"\t/* steps {n}..{n_steps} form a loop that the model repeats forever */")
        out += comment_block([f"step {n} ({st.actor}): {st.label} - {act.meaning}" + (f" [{act.rule}]" if act.rule else "")]
                             + ([f"after: {', '.join(line.result)}"] if line.result else []))
        if prev_lane and prev_lane != lane:  # a hand-off: this thread must wait for the other one
            out.append(f"\tif (!dmabuf_model_turn(&sched, {n}))  /* hand-off from {prev_lane} */")
            out.append(f'\t\treturn (void *)"step {n} never got its turn";')
        out += [f"\t{s}" for s in stmts]
        out.append(f"\tdmabuf_model_done(&sched, {n});")
        out.append("")
        prev_lane = lane
    for b in blocked:
        stmts = c_statements(b.call, b.action, hooks_only)
        code_text += stmts
        out = body[b.lane]
        out += comment_block([f"the model says this never completes: {b.text}"])
        out.append("\tif (!dmabuf_model_turn(&sched, NR_STEPS + 1))")
        out.append('\t\treturn (void *)"the trace never got to its end";')
        for s in stmts:
            fn = _CALL.match(s)
            if fn and fn.group(1) in TIMED:
                out.append(f"\tif ({s.rstrip(';')} == 0)")
                out.append(f"\t\treturn (void *){c_string('blocked: ' + b.text)};")
            else:
                out.append(f"\t{s}")
        out.append("")

    # the objects the calls name, declared once with their kernel types
    text = "\n".join(code_text)
    idents = sorted(set(re.findall(r"(?<![\w>.])([A-Za-z_]\w*)\b(?!\s*\()", text)), key=lambda x: (len(x), x))
    decls = []
    for ident in idents:
        for pattern, ctype in TYPES:
            if re.fullmatch(pattern, ident):
                decls.append(f"static {ctype}{ident};")
    declared = {d.split()[-1].rstrip(";").lstrip("*") for d in decls}
    n_imp = int(trace.params.get("importers", 0) or 1)
    setup = ["\tif (dmabuf_model_setup(&dmabuf_setup, &fd_setup, devs, NR_IMPORTERS, &priv_setup))",
             '\t\tksft_exit_skip("dmabuf_model_setup() failed\\n");']
    setup += ["\tdmabuf = dmabuf_setup;"] if "dmabuf" in declared else []
    setup += ["\tfd = fd_setup;"] if "fd" in declared else []
    setup += ["\tpriv = priv_setup;"] if "priv" in declared else []
    setup += [f"\tdev{m} = devs[{m - 1}];" for m in range(1, n_imp + 1) if f"dev{m}" in declared]
    setup += [f"\tjob{m}_fence = dmabuf_model_job_fence({m});" for m in range(1, n_imp + 1) if f"job{m}_fence" in declared]

    prop = judge.prop
    lay = c.layout
    expected = lay.encode(trace.final)
    check = property_c(c, model, prop) if isinstance(prop, Property) and prop.build is not None else "1"
    wrapped_check = textwrap.wrap(check, 92, break_long_words=False, break_on_hyphens=False)
    rules = ", ".join(trace.property.rules)
    head = [
        "// SPDX-License-Identifier: GPL-2.0",
        *comment_block([
            f"Reproducer skeleton for a dmabuf-check counterexample ({trace.length} steps).",
            f"model: {trace.title()}",
            f"property: {trace.property.id} ({rules}): {trace.property.meaning}",
            f"kernel: {trace.property.source}",
            f"why: {why.text}",
            "",
            f"Generated by dmabuf-check {trace.tool_version}. One thread per actor makes the dma-buf calls of "
            "the trace in its order; dmabuf_model_turn()/dmabuf_model_done() hand control between threads at "
            "each hand-off. Implement the dmabuf_model_* hooks of dmabuf_model.h for the driver under test. "
            "TAP 'not ok' means the violation was reproduced.",
        ], indent=""),
        "#define _GNU_SOURCE",
        "#include <pthread.h>",
        "#include <stdbool.h>",
        "#include <stdio.h>",
        "#include <time.h>",
        "",
        '#include "dmabuf_model.h"',
        "",
        f"#define NR_STEPS {n_steps}",
        f"#define NR_IMPORTERS {n_imp}",
        f"#define NR_SLOTS {lay.size}",
        f"#define NR_THREADS {len(lanes)}",
        "",
        "static struct dmabuf_model_sched sched = DMABUF_MODEL_SCHED_INIT;",
        *decls,
        "",
    ]
    threads: list[str] = []
    for lane in lanes:
        threads += [f"/* {lane} */", f"static void *{_thread_name(lane)}(void *arg)", "{", "\t(void)arg;", ""]
        threads += body[lane]
        threads += ["\treturn NULL;", "}", ""]
    slots = [f"\t{c_string(name)}," for name in lay.slot_names]
    observe = [f"\tx[{k}] = dmabuf_model_observe({c_string(v.name)}, {0 if m is None else m + 1});"
               f"  /* {lay.slot_names[k]}: {encoding(c, k)} */" for k, (v, m) in enumerate(lay.slot_vars)]
    tail = [
        "/* the model's variables, in its encoding */",
        "static const char *const slot_names[NR_SLOTS] = {", *slots, "};",
        "",
        "/* the state the trace ends in */",
        "static const int expected_final[NR_SLOTS] = {" + ", ".join(map(str, expected)) + "};",
        "",
        "static void observe(int *x)",
        "{", *observe, "}",
        "",
        f"/* {trace.property.id}, compiled from the model's predicate */",
        "static bool property_holds(const int *x)",
        "{",
        *(["\t(void)x;"] if check == "1" else []),
        *[("\treturn " if k == 0 else "\t\t") + part + (";" if k == len(wrapped_check) - 1 else "")
          for k, part in enumerate(wrapped_check)],
        "}",
        "",
        "int main(void)",
        "{",
        "\tstatic const char *const names[NR_THREADS] = {" + ", ".join(c_string(x) for x in lanes) + "};",
        "\tvoid *(*const fns[NR_THREADS])(void *) = {" + ", ".join(_thread_name(x) for x in lanes) + "};",
        "\tstruct dma_buf *dmabuf_setup = NULL;",
        "\tstruct device *devs[NR_IMPORTERS];",
        "\tpthread_t threads[NR_THREADS];",
        "\tvoid *priv_setup = NULL;",
        "\tint fd_setup = -1;",
        "\tint x[NR_SLOTS];",
        "\tint stuck = 0;",
        "\tint k;",
        "",
        "\tksft_print_header();",
        "\tksft_set_plan(1);",
        *setup,
        "",
        "\tfor (k = 0; k < NR_THREADS; k++)",
        "\t\tpthread_create(&threads[k], NULL, fns[k], NULL);",
        "\tfor (k = 0; k < NR_THREADS; k++) {",
        "\t\tstruct timespec deadline;",
        "\t\tvoid *ret = NULL;",
        "",
        "\t\tclock_gettime(CLOCK_REALTIME, &deadline);",
        "\t\tdeadline.tv_sec += DMABUF_MODEL_JOIN_SECONDS;",
        "\t\tif (pthread_timedjoin_np(threads[k], &ret, &deadline)) {",
        '\t\t\tksft_print_msg("%s thread is still blocked\\n", names[k]);',
        "\t\t\tstuck++;",
        "\t\t} else if (ret) {",
        '\t\t\tksft_print_msg("%s: %s\\n", names[k], (const char *)ret);',
        "\t\t\tstuck++;",
        "\t\t}",
        "\t}",
        "",
        "\tobserve(x);",
        "\tfor (k = 0; k < NR_SLOTS; k++)",
        "\t\tif (x[k] != expected_final[k])",
        '\t\t\tksft_print_msg("%s is %d, the trace ends with %d\\n", slot_names[k], x[k], expected_final[k]);',
        "\tif (stuck || !property_holds(x)) {",
        '\t\tksft_test_result_fail("%s\\n",',
        *[f"\t\t\t\t      {c_string(part)}" for part in
          textwrap.wrap(f"{trace.property.id} violated: {why.text}", 72, drop_whitespace=False)],
        "\t\t\t\t      );",
        "\t\treturn KSFT_FAIL;",
        "\t}",
        f'\tksft_test_result_pass("%s\\n", {c_string(trace.property.id + " holds")});',
        "\treturn KSFT_PASS;",
        "}",
        "",
    ]
    return "\n".join(head + threads + tail)
