"""The trace file format ("dmabuf-check trace v1"): one counterexample as JSON.

A trace records everything needed to read it without the tool (every state in
full, the kernel call of every step) and everything needed to re-check it with
the tool (the model name and parameters, the action instances). The layout is:

    {
      "schema": "dmabuf-check trace v1",
      "tool": {"name": "dmabuf-check", "version": "0.1.0"},
      "model": "r1",
      "params": {"importers": 2, "kind": "dynamic", "variant": "B4"},
      "property": {"id": ..., "meaning": ..., "rules": [...], "source": ..., "kind": ...},
      "engine": "explicit-bfs",
      "detail": "exporter -> fence 1 -> lock resv -> exporter",
      "initial": {variable: value, per-importer variable: [value, ...]},
      "steps": [{"action", "params" (1-based members), "actor", "kernel", "call",
                 "state" (full state after), "changed" ({slot name: new value})}],
      "loop": null | k,
      "note": ""
    }

``loop`` makes the trace a lasso (for liveness): states are numbered 0 (the
initial state) to n (after the last step); steps k+1..n form a cycle, so the
state after the last step equals state k. ``loop`` = n means the run stays in
its last state forever (nothing is enabled there). A finite trace has ``loop``
null.

Readers get one ``TraceError`` subclass per way a file can be bad, so the
command line can say exactly what is wrong (exit code 2).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dmabuf_check.model.types import ModelError
from dmabuf_check.model.userfiles import read_bytes

SCHEMA = "dmabuf-check trace v1"
TOOL = "dmabuf-check"


class TraceError(ModelError):
    """A trace file cannot be used; subclasses say why (the CLI maps all of them to exit 2)."""


class TruncatedTraceError(TraceError):
    """The file ends before the JSON document does (an interrupted write or copy)."""


class CorruptTraceError(TraceError):
    """The file is not JSON at all, or is JSON of the wrong shape."""


class TraceVersionError(TraceError):
    """The file is a trace of another schema version, or not a dmabuf-check trace."""


class UnknownModelError(TraceError):
    """The trace names a model (or parameters) this build does not know."""


class UnknownActionError(TraceError):
    """A step names an action or member the model does not have."""


class UnknownPropertyError(TraceError):
    """The trace names a property the model does not have."""


def tool_version() -> str:
    """The version of this tool, from the installed package or, in a checkout, from pyproject.toml."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version(TOOL)
    except PackageNotFoundError:
        pass
    import tomllib

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


@dataclass
class PropertyRef:
    """The violated property as the trace records it (so a reader needs no catalog)."""

    id: str
    meaning: str = ""
    rules: list[str] = field(default_factory=list)
    source: str = ""  # where the kernel states the rule
    kind: str = "invariant"  # invariant | deadlock | liveness


@dataclass
class TraceStep:
    """One action instance and the state it produced."""

    action: str
    params: list[int]  # members, 1-based as users read them
    actor: str  # exporter, importer 2, hardware (fence 1) ...
    kernel: str  # the kernel function the action stands for
    call: str  # the call as a kernel engineer writes it, members filled in
    state: dict[str, object]  # the full state after the step
    changed: dict[str, object]  # slot name (map[1], storage) -> new value

    @property
    def label(self) -> str:
        return self.action if not self.params else f"{self.action}({', '.join(map(str, self.params))})"


@dataclass
class Trace:
    """A counterexample to one property of one model instance."""

    model: str
    params: dict[str, object]
    property: PropertyRef
    initial: dict[str, object]
    steps: list[TraceStep]
    loop: int | None = None
    engine: str = ""
    detail: str = ""  # e.g. the wait-for cycle of the last state
    note: str = ""  # e.g. how shrinking changed the trace
    tool_version: str = field(default_factory=tool_version)
    schema: str = SCHEMA

    @property
    def length(self) -> int:
        return len(self.steps)

    @property
    def is_lasso(self) -> bool:
        return self.loop is not None

    def states(self) -> list[dict[str, object]]:
        """States 0..n: the initial state, then the state after each step."""
        return [self.initial] + [s.state for s in self.steps]

    @property
    def final(self) -> dict[str, object]:
        return self.steps[-1].state if self.steps else self.initial

    def actors(self) -> list[str]:
        """Every actor lane of this model instance in reading order: exporter, importers, hardware."""
        n = int(self.params.get("importers", 0) or 0)
        lanes = ["exporter"] + [f"importer {m}" for m in range(1, n + 1)] + ["hardware"]
        for s in self.steps:  # a model with other actor names still gets a lane for each
            lane = lane_of(s.actor)
            if lane not in lanes:
                lanes.append(lane)
        return lanes

    def title(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params.items() if v is not None)
        return f"{self.model} ({params})"


def lane_of(actor: str) -> str:
    """The lane (thread) an actor runs on: fence completions all run on the hardware lane."""
    return "hardware" if actor.startswith("hardware") else actor


# ---- JSON ------------------------------------------------------------------


def to_json(trace: Trace) -> dict[str, object]:
    return {
        "schema": trace.schema,
        "tool": {"name": TOOL, "version": trace.tool_version},
        "model": trace.model,
        "params": dict(trace.params),
        "property": {"id": trace.property.id, "meaning": trace.property.meaning, "rules": list(trace.property.rules),
                     "source": trace.property.source, "kind": trace.property.kind},
        "engine": trace.engine,
        "detail": trace.detail,
        "note": trace.note,
        "initial": trace.initial,
        "steps": [{"action": s.action, "params": s.params, "actor": s.actor, "kernel": s.kernel, "call": s.call,
                   "state": s.state, "changed": s.changed} for s in trace.steps],
        "loop": trace.loop,
    }


def _need(d: object, key: str, kind: type | tuple[type, ...], where: str) -> object:
    if not isinstance(d, dict) or key not in d:
        raise CorruptTraceError(f"{where} has no {key!r} field")
    v = d[key]
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise CorruptTraceError(f"{where}: {key!r} should be {names}, not {type(v).__name__}")
    return v


def _scalar(v: object) -> bool:
    return isinstance(v, int | str)  # bool is an int


def _check_state(state: dict, initial: dict, where: str) -> None:
    """Every state has the initial state's variables, each a value or a list of values as long as the initial
    one: what replay, show and the exports index into (a trace edited by hand can break it)."""
    if state is not initial and state.keys() != initial.keys():
        extra = sorted(map(str, state.keys() ^ initial.keys()))
        raise CorruptTraceError(f"{where}: its variables differ from the initial state's (at {extra[0]!r})")
    for k, v in state.items():
        ref = initial[k]
        if isinstance(ref, list):
            if not isinstance(v, list) or len(v) != len(ref) or not all(_scalar(x) for x in v):
                raise CorruptTraceError(f"{where}: {k} must be a list of {len(ref)} values like the initial "
                                        f"state's, got {str(v)[:60]}")
        elif not _scalar(v) or not _scalar(ref):
            raise CorruptTraceError(f"{where}: {k} must be a number, a boolean or a name, got {str(v)[:60]}")


def from_json(data: object) -> Trace:
    """Validate a parsed trace document and build the Trace; raises a TraceError subclass."""
    if not isinstance(data, dict):
        raise CorruptTraceError(f"a trace file holds a JSON object, this one holds a {type(data).__name__}")
    schema = data.get("schema")
    if schema != SCHEMA:
        if isinstance(schema, str) and schema.startswith("dmabuf-check trace "):
            raise TraceVersionError(f"trace schema {schema!r} is not supported; this version reads {SCHEMA!r}")
        raise TraceVersionError(f"not a dmabuf-check trace (schema is {schema!r}, expected {SCHEMA!r})")
    model = _need(data, "model", str, "trace")
    params = _need(data, "params", dict, "trace")
    prop = _need(data, "property", dict, "trace")
    initial = _need(data, "initial", dict, "trace")
    raw_steps = _need(data, "steps", list, "trace")
    for k, v in params.items():  # type: ignore[union-attr]
        if v is not None and not _scalar(v):  # the model's parameters: numbers and names rebuild it
            raise CorruptTraceError(f"params: {k} must be a number, a boolean, a name or null, got {str(v)[:60]}")
    _check_state(initial, initial, "initial state")  # type: ignore[arg-type]
    steps: list[TraceStep] = []
    for n, s in enumerate(raw_steps, 1):
        where = f"step {n}"
        _check_state(_need(s, "state", dict, where), initial, f"{where}: state")  # type: ignore[arg-type]
        p = _need(s, "params", list, where)
        if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in p):  # type: ignore[union-attr]
            raise CorruptTraceError(f"{where}: params must be member numbers (1, 2, ...), got {p!r}")
        steps.append(TraceStep(
            action=_need(s, "action", str, where), params=list(p),  # type: ignore[arg-type]
            actor=str(s.get("actor", "")), kernel=str(s.get("kernel", "")), call=str(s.get("call", "")),
            state=_need(s, "state", dict, where), changed=_need(s, "changed", dict, where),  # type: ignore[arg-type]
        ))
    loop = data.get("loop")
    if loop is not None and (not isinstance(loop, int) or isinstance(loop, bool) or not 0 <= loop <= len(steps)):
        raise CorruptTraceError(f"loop must be null or a state index 0..{len(steps)}, got {loop!r}")
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    rules = prop.get("rules", [])  # type: ignore[union-attr]
    return Trace(
        model=model,  # type: ignore[arg-type]
        params=params,  # type: ignore[arg-type]
        property=PropertyRef(id=_need(prop, "id", str, "property"),  # type: ignore[arg-type]
                             meaning=str(prop.get("meaning", "")),  # type: ignore[union-attr]
                             rules=[str(r) for r in rules] if isinstance(rules, list) else [],
                             source=str(prop.get("source", "")),  # type: ignore[union-attr]
                             kind=str(prop.get("kind", "invariant"))),  # type: ignore[union-attr]
        initial=initial,  # type: ignore[arg-type]
        steps=steps,
        loop=loop,
        engine=str(data.get("engine", "")),
        detail=str(data.get("detail", "")),
        note=str(data.get("note", "")),
        tool_version=str(tool.get("version", "unknown")),  # type: ignore[union-attr]
        schema=SCHEMA,
    )


def dumps(trace: Trace) -> str:
    """The trace as JSON text: one line per field and one line per step, so traces diff well."""
    doc = to_json(trace)
    parts = []
    for key, value in doc.items():
        if key == "steps" and value:
            body = ",\n".join("  " + json.dumps(s, ensure_ascii=False) for s in value)  # type: ignore[union-attr]
            parts.append(f' "steps": [\n{body}\n ]')
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def loads(text: str, name: str = "trace") -> Trace:
    """Parse trace text; a document cut short is told apart from one that is garbled."""
    if not text.strip():
        raise TruncatedTraceError(f"{name} is empty (an interrupted write?)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        # the parser ran out of input (at the end, or inside a string no later quote closes):
        # everything read so far was fine, the rest is missing
        rest = text[e.pos:].rstrip()
        cut_literal = any(word.startswith(rest) for word in ("true", "false", "null"))  # "loop": nu
        if e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated string") or cut_literal:
            raise TruncatedTraceError(f"{name} ends early after {len(text)} bytes "
                                      "(truncated; an interrupted write?)") from None
        raise CorruptTraceError(f"{name} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:  # json nests by recursion; no trace is nested more than a few levels
        raise CorruptTraceError(f"{name} nests lists or objects too deeply to be a trace") from None
    if _LONE_SURROGATE.search(text):
        try:  # a \udcxx escape is valid JSON but no Unicode text: exports and files could not hold it
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise CorruptTraceError(f"{name} holds text that is not Unicode (an unpaired surrogate escape)") from None
    return from_json(data)


_LONE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_escape(text: str) -> str:
    """Text for an XML document (SVG): markup escaped, and characters XML 1.0 cannot hold (NUL, other C0
    controls) replaced, so a trace's free text can never make the document invalid."""
    from xml.sax.saxutils import escape

    return escape(_XML_BAD.sub("?", text), {'"': "&quot;"})


class OutputError(ModelError):
    """An output file cannot be written: one line, exit 2 (nothing half-written is left behind)."""


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` through a temporary file in the same directory and rename it into place.

    A reader (or a crash) never sees half a file: os.replace is atomic within a
    file system, which is why the temporary file lives beside the target. Only a
    regular file is ever replaced: a device, pipe or socket (``/dev/null``,
    ``/dev/stdout``) is written in place, a directory is refused.
    """
    if not str(path):
        raise OutputError("an output path is empty")
    if str(path) == "-":  # standard output, as everywhere on the command line
        sys.stdout.write(text)
        sys.stdout.flush()
        return Path("-")
    target = Path(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputError(f"cannot write {target}: {e.strerror}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {target}: it is a directory")
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):  # never rename over a device node or a pipe
            if stat.S_ISFIFO(st.st_mode):
                # a FIFO nobody reads would block the open forever: ENXIO instead, then write as usual
                fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK)
                os.set_blocking(fd, True)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                return target
            with open(target, "w", encoding="utf-8") as f:
                f.write(text)
            return target
        make_dirs(target.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:200]}.", suffix=".tmp", dir=target.parent)
    except OutputError:
        raise
    except OSError as e:
        if e.errno == errno.ENXIO and st is not None and stat.S_ISFIFO(st.st_mode):
            raise OutputError(f"cannot write {target}: a named pipe with no reader") from None
        raise OutputError(f"cannot write {target}: {e.strerror or e}") from None
    try:
        # mkstemp makes the file 0600; the output gets the mode any new file of the user gets (the umask)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise OutputError(f"cannot write {target}: {e.strerror or e}") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def check_writable(flag: str, path: str | os.PathLike[str], *, directory: bool = False) -> None:
    """Refuse an output path that can never be written, before any work (one line naming the option).

    Missing directories are fine (they are created when the file is written); a file or directory in
    the way, or a directory that cannot be written, is not.
    """
    if not str(path):
        raise OutputError(f"{flag}: the path is empty")
    if str(path) == "-":
        if directory:
            raise OutputError(f"{flag} -: needs a directory (standard output holds one file, not a directory)")
        return
    p = Path(os.path.abspath(path))
    if len(p.name.encode()) > 255:
        raise OutputError(f"{flag} {path}: the file name is longer than 255 bytes")
    try:
        exists = p.exists()
    except OSError as e:
        raise OutputError(f"{flag} {path}: {e.strerror}") from None
    if exists:
        if directory and not p.is_dir():
            raise OutputError(f"{flag} {path}: a file of that name exists (it needs a directory)")
        if not directory and p.is_dir():
            raise OutputError(f"{flag} {path}: it is a directory")
        probe = p if directory else p.parent
    else:
        probe = p.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{flag} {path}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {path}: cannot write in {probe}")


def make_dirs(directory: str | os.PathLike[str]) -> Path:
    """Create an output directory (and its parents); one line if a file is in the way or it cannot be."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot create directory {d}: a file of that name exists") from None
    except NotADirectoryError:
        raise OutputError(f"cannot create directory {d}: a part of the path is a file") from None
    except OSError as e:
        raise OutputError(f"cannot create directory {d}: {e.strerror or e}") from None
    return d


def save(trace: Trace, path: str | os.PathLike[str]) -> Path:
    """Write a trace file atomically; returns its path."""
    return write_atomic(path, dumps(trace))


TRACE_LIMIT = 4 << 30  # a 96,000-step trace is 43 MB


def load(path: str | os.PathLike[str]) -> Trace:
    """Read a trace file; every problem is a TraceError with a one-line message."""
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        raise TraceError(f"no trace file {p}")
    raw = read_bytes(p, "trace file", TRACE_LIMIT, TraceError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorruptTraceError(f"{p} is not a text file (byte {e.start} is not UTF-8)") from None
    return loads(text, str(p))
