"""Seeded generators of hostile input for every file and option a user can hand dmabuf-check.

Each generator takes a ``random.Random`` and a scratch directory and returns a ``Case``: the command line to
run and what it is (category, a short description). The same seed gives the same cases, so the corpus is
the generator plus its seed; a case that once failed is kept as a file under ``tests/fuzz/corpus/``.

The seeds of the mutations are real inputs: the built-in design files and driver programs (as user files),
real traces of seeded bugs, a valid locking-rules file, the documented command lines. Mutations replace one
literal or value with a hostile one (wrong type, huge, negative, NaN, NUL, very long, deep), delete,
duplicate or swap lines, truncate at a random byte, or flip bytes; command lines mix valid and hostile
options and output paths that cannot be written (a directory, /proc, a device, a name too long).
"""

from __future__ import annotations

import io
import json
import random
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGNS = sorted(p for p in (ROOT / "model" / "designs").glob("*.py") if p.name != "__init__.py")
PROGRAMS = sorted(p for p in (ROOT / "model" / "designs" / "programs").glob("*.py") if p.name != "__init__.py")
# every engine run is small: the point is how input is handled, not how big a search gets
BOUNDS = ["--max-states", "1500", "--time-limit", "5"]

HOSTILE_LITERALS = [
    "None", "-1", "0", "10**30", "-10**30", "float('nan')", "float('inf')", "1.5", "True", "''", "'x' * 100000",
    "'\\x00'", "'\\udcff'", "'é☃'", "[]", "{}", "()", "object()", "lambda *a: 1/0", "b'\\xff'", "[[[[[[]]]]]]",
    "{'a': 1}", "('WRITE',)", "'WRITE'", "'v6.2'", "'v99.0'", "'GFP_KERNEL'", "2", "7", "'static'",
]
HOSTILE_JSON = [
    None, -1, 0, 2**70, -(2**70), 1.5, True, "", "x" * 100000, "\x00", "\udcff", "é☃'\"\n</script>", [], {},
    [[[[[[[]]]]]]], {"a": 1}, "WRITE", "map", "r1", "ttm-vram", "../../etc/passwd", "bug-detach-while-mapped",
]
HOSTILE_ARGS = [
    "-1", "0", "1e400", "inf", "nan", "99999999999999999999", "", " ", "\x7f", "é☃", "x" * 5000, "--", "-",
    "static=1,dynamic=99", "gpu=1", "static=", "=1", "DMABUF_MOVE_NOTIFY=maybe", "NOPE=y", "v0.1", "v6.2", "B9",
    "no-such-property", "1.5",
]


@dataclass
class Case:
    category: str  # design | program | trace | rules | argv
    what: str
    argv: list[str]


def _literal_spans(src: str) -> list[tuple[int, int]]:
    """Character spans of the number and string literals of a Python source (what a mutation replaces)."""
    spans = []
    lines = src.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type in (tokenize.NUMBER, tokenize.STRING):
                (r0, c0), (r1, c1) = tok.start, tok.end
                spans.append((offsets[r0 - 1] + c0, offsets[r1 - 1] + c1))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return spans


def mutate_python(rng: random.Random, src: str) -> tuple[str, str]:
    """One to three mutations of a Python source; returns (new source, what was done)."""
    done = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        kind = rng.choice(("literal", "literal", "literal", "keyword", "delete", "duplicate", "swap", "truncate"))
        lines = src.splitlines(keepends=True)
        if kind == "literal":
            spans = [s for s in _literal_spans(src) if not src[s[0]:s[1]].startswith(('"""', "'''"))]
            if not spans:
                continue
            a, b = rng.choice(spans)
            new = rng.choice(HOSTILE_LITERALS)
            done.append(f"literal {src[a:b][:30]!r} -> {new[:30]}")
            src = src[:a] + new + src[b:]
        elif kind == "keyword":
            hits = [m for m in re.finditer(r"\b(\w+)=(?!=)", src)]
            if not hits:
                continue
            m = rng.choice(hits)
            end = src.find(",", m.end())
            end = end if end != -1 and end - m.end() < 200 else m.end()
            new = rng.choice(HOSTILE_LITERALS)
            done.append(f"{m.group(1)}= -> {new[:30]}")
            src = src[:m.end()] + new + src[end:]
        elif kind == "delete" and lines:
            k = rng.randrange(len(lines))
            done.append(f"delete line {k + 1}")
            del lines[k]
            src = "".join(lines)
        elif kind == "duplicate" and lines:
            k = rng.randrange(len(lines))
            done.append(f"duplicate line {k + 1}")
            lines.insert(k, lines[k])
            src = "".join(lines)
        elif kind == "swap" and len(lines) > 1:
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            done.append(f"swap lines {i + 1} and {j + 1}")
            lines[i], lines[j] = lines[j], lines[i]
            src = "".join(lines)
        elif kind == "truncate" and src:
            k = rng.randrange(len(src))
            done.append(f"truncate at {k}")
            src = src[:k]
    return src, "; ".join(done) or "unchanged"


def design_case(rng: random.Random, scratch: Path, n: int) -> Case:
    seed = rng.choice(DESIGNS)
    src, what = mutate_python(rng, seed.read_text())
    path = scratch / f"design_{n}.py"
    path.write_text(src, errors="surrogateescape")
    cmd = rng.choice((["check", str(path), "--quiet", *BOUNDS], ["locks", str(path), "--quiet", *BOUNDS],
                      ["check", str(path), "--quiet", "--keep-going", "--json", str(scratch / f"d{n}.json"),
                       *BOUNDS]))
    return Case("design", f"{seed.name}: {what}", cmd)


def program_case(rng: random.Random, scratch: Path, n: int) -> Case:
    seed = rng.choice(PROGRAMS)
    text = seed.read_text()
    if "\ndef make(" in text:
        text += "\n\nDESIGN = make()\n"  # a driver program as a user file
    src, what = mutate_python(rng, text)
    path = scratch / f"program_{n}.py"
    path.write_text(src, errors="surrogateescape")
    cmd = rng.choice((["check", str(path), "--quiet", *BOUNDS], ["locks", str(path), "--quiet", *BOUNDS]))
    return Case("program", f"{seed.name}: {what}", cmd)


def _json_paths(doc: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _json_paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:40]):
            out += _json_paths(v, prefix + (i,))
    return out


def _set(doc: object, path: tuple, value: object) -> object:
    if not path:
        return value
    parent = doc
    for k in path[:-1]:
        parent = parent[k]  # type: ignore[index]
    parent[path[-1]] = value  # type: ignore[index]
    return doc


def _delete(doc: object, path: tuple) -> object:
    if not path:
        return {}
    parent = doc
    for k in path[:-1]:
        parent = parent[k]  # type: ignore[index]
    del parent[path[-1]]  # type: ignore[arg-type]
    return doc


def mutate_json_text(rng: random.Random, text: str) -> tuple[str | bytes, str]:
    kind = rng.choice(("value", "value", "value", "delete", "truncate", "bytes", "deep"))
    if kind in ("value", "delete"):
        doc = json.loads(text)
        path = rng.choice(_json_paths(doc))
        if kind == "value":
            new = rng.choice(HOSTILE_JSON)
            return json.dumps(_set(doc, path, new)), f"{'/'.join(map(str, path))} = {str(new)[:30]!r}"
        return json.dumps(_delete(doc, path)), f"delete {'/'.join(map(str, path))}"
    if kind == "truncate":
        k = rng.randrange(len(text))
        return text[:k], f"truncate at {k}"
    if kind == "deep":
        return "[" * 100000 + "]" * 100000, "100,000 nested lists"
    raw = bytearray(text.encode())
    for _ in range(rng.randint(1, 8)):
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    return bytes(raw), "bytes flipped"


def trace_case(rng: random.Random, scratch: Path, n: int, seeds: list[Path]) -> Case:
    seed = rng.choice(seeds)
    data, what = mutate_json_text(rng, seed.read_text())
    path = scratch / f"trace_{n}.json"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, errors="surrogateescape")
    out = scratch / f"t{n}.out"
    cmd = rng.choice((
        ["trace", "replay", str(path)], ["trace", "show", str(path)], ["trace", "show", str(path), "--full"],
        ["trace", "show", str(path), "--calls"], ["trace", "shrink", str(path), "-o", str(out)],
        *(["trace", "export", str(path), "--as", fmt, "-o", str(out)]
          for fmt in ("pytest", "kselftest", "itf", "mermaid", "svg")),
    ))
    return Case("trace", f"{seed.name}: {what}", cmd)


RULES = '''locks = ["resv"]
order = [["mmap_lock", "resv", "fs_reclaim"]]
signalling = ["signal"]

[[forbid]]
held = "resv"
acquire = "fs_reclaim"
why = "the notifier runs under reclaim"
'''


def rules_case(rng: random.Random, scratch: Path, n: int) -> Case:
    text = RULES
    kind = rng.choice(("value", "value", "line", "truncate", "bytes", "deep", "huge"))
    if kind == "value":
        spans = [m.span() for m in re.finditer(r'"[^"\n]*"|\[\[?|\d+', text)]
        a, b = rng.choice(spans)
        new = rng.choice(['"nope"', "1", "-1", "99999999999999999999999999", "[]", "{}", "true", '"resv"',
                          '"fence_signal"', '""', "1.5", '"\\u0000"', "[[]]", '["resv", "resv"]'])
        text, what = text[:a] + new + text[b:], f"{text[a:b]} -> {new}"
    elif kind == "line":
        lines = text.splitlines(keepends=True)
        k = rng.randrange(len(lines))
        lines.insert(k, lines[k]) if rng.random() < 0.5 else lines.pop(k)
        text, what = "".join(lines), f"line {k + 1} duplicated or dropped"
    elif kind == "truncate":
        k = rng.randrange(len(text))
        text, what = text[:k], f"truncate at {k}"
    elif kind == "deep":
        text, what = "a = " + "[" * 5000 + "]" * 5000 + "\n", "5,000 nested arrays"
    elif kind == "huge":
        text, what = f"locks = [{', '.join(repr(str(i)) for i in range(5000))}]\n", "5,000 locks"
    path = scratch / f"rules_{n}.toml"
    if kind == "bytes":
        raw = bytearray(text.encode())
        for _ in range(rng.randint(1, 6)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        path.write_bytes(bytes(raw))
        what = "bytes flipped"
    else:
        path.write_text(text)
    return Case("rules", what, ["locks", "r1", "-n", "2", "--quiet", "--rules", str(path), *BOUNDS])


def _bad_output(rng: random.Random, scratch: Path, n: int) -> str:
    d = scratch / f"outdir_{n}"
    d.mkdir(exist_ok=True)
    return rng.choice([str(d), "/proc/nope/x.json", "/dev/full", "", str(scratch / ("x" * 300)),
                       str(scratch / f"new_{n}" / "sub" / "o.json"), "/", str(scratch / f"ok_{n}.json")])


def argv_case(rng: random.Random, scratch: Path, n: int) -> Case:
    model = rng.choice(["r1", "ttm-vram", "udmabuf", "system-heap", "bug-detach-while-mapped", "export-fd",
                        "bug-fastrpc-put-after-fd", "nope", "x.py", str(scratch), "r1.py"])
    cmd = rng.choice(["check", "check", "check", "locks", "prove", "list", "explain", "trace", "bench", "core"])
    argv = [cmd]
    if cmd in ("check", "locks", "prove"):
        argv.append(model)
    elif cmd == "explain":
        argv.append(rng.choice(["MIG-4", "no-fence-wait-deadlock", "nope", "", "x" * 3000, "17"]))
    elif cmd == "trace":
        argv += [rng.choice(["replay", "show", "export", "shrink", "nope"]), rng.choice([str(scratch), "/dev/null",
                                                                                        "missing.json", ""])]
    elif cmd == "core":
        argv.append(rng.choice([str(scratch), "missing.py", "/dev/null"]))
    options = {
        "check": ["-n", "--kind", "--variant", "--mix", "--buffers", "--kernel", "--config", "--property",
                  "--max-states", "--time-limit", "--max-memory", "--json", "--sarif", "--junit", "--trace-dir",
                  "--checkpoint", "--resume", "--checkpoint-every", "--liveness", "--keep-going", "--calls",
                  "--no-symmetry", "--progress-every"],
        "locks": ["-n", "--mix", "--kernel", "--dot", "--svg", "--json", "--rules", "--larger", "--max-states",
                  "--time-limit", "--no-symmetry"],
        "prove": ["-n", "--all-n", "--engine", "--depth", "--timeout", "--property", "--lemmas", "--json",
                  "--no-lemmas", "--kind", "--variant"],
        "list": ["--rules", "--designs", "--bugs", "--properties", "--profile"],
        "bench": ["--quick", "-n"],
    }.get(cmd, [])
    flags_without_value = {"--liveness", "--keep-going", "--calls", "--no-symmetry", "--all-n", "--no-lemmas",
                           "--rules" if cmd == "list" else "", "--designs", "--bugs", "--properties", "--quick"}
    for _ in range(rng.randint(0, 4)):
        if not options:
            break
        flag = rng.choice(options)
        argv.append(flag)
        if flag in flags_without_value:
            continue
        if flag in ("--json", "--sarif", "--junit", "--dot", "--svg", "--trace-dir", "--checkpoint", "--resume",
                    "--lemmas", "--rules"):
            argv.append(_bad_output(rng, scratch, n))
        elif flag == "-n":
            argv.append(rng.choice(["1", "2", "0", "-3", "7", "99999999999999999999", "x"]))
        else:
            argv.append(rng.choice(HOSTILE_ARGS + ["1", "2", "static=1", "v6.2", "B4", "kind", "bmc"]))
    if cmd in ("check", "locks"):
        argv += ["--quiet", *BOUNDS]
    elif cmd == "prove":  # --timeout is per property: one property keeps a case to seconds
        argv += ["--quiet", "--timeout", "1", "--depth", "3", "--property",
                 rng.choice(["map-after-attach", "use-after-free", "no-stuck-state", "attach-holds-ref"])]
    elif cmd == "bench":
        argv = ["bench", "--help"] if rng.random() < 0.5 else ["bench", rng.choice(HOSTILE_ARGS)]
    return Case("argv", " ".join(a[:40] for a in argv), argv)


def trace_seeds(scratch: Path) -> list[Path]:
    """Real traces to mutate: counterexamples of R1, a design bug and a driver-program bug."""
    from dmabuf_check.cli.main import main

    d = scratch / "seeds"
    if not d.exists():
        import contextlib

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            for argv in (["check", "r1", "-n", "2", "--variant", "B4", "--liveness"],
                         ["check", "bug-detach-while-mapped"], ["check", "bug-fastrpc-put-after-fd"]):
                main([*argv, "--quiet", "--keep-going", "--trace-dir", str(d)])
    return sorted(d.glob("*.json"))


def cases(seed: int, count: int, scratch: Path, mix: dict[str, int] | None = None) -> list[Case]:
    """``count`` cases from ``seed``, split over the categories by ``mix`` (weights)."""
    rng = random.Random(seed)
    mix = mix or {"design": 3, "program": 2, "trace": 3, "rules": 1, "argv": 3}
    seeds = trace_seeds(scratch)
    cats = [c for c, w in mix.items() for _ in range(w)]
    out = []
    for n in range(count):
        cat = cats[n % len(cats)]
        if cat == "design":
            out.append(design_case(rng, scratch, n))
        elif cat == "program":
            out.append(program_case(rng, scratch, n))
        elif cat == "trace":
            out.append(trace_case(rng, scratch, n, seeds))
        elif cat == "rules":
            out.append(rules_case(rng, scratch, n))
        else:
            out.append(argv_case(rng, scratch, n))
    return out
