"""Designs as data: a ``.toml`` or ``.json`` file that describes an exporter design without any code.

A design file in Python (``DESIGN = Design(...)``) is a program: checking it runs it, in-process, with the
user's privileges. A design under review from a patch or a bug report is untrusted input, so the same
design can be written as data instead, and loading it runs nothing: the file is parsed (tomllib, json),
mapped field by field onto ``Design`` and its parts (``Op``, ``Move``, ``Submit``, ``Evict``,
``Signalling``, ``Importer``, and ``Bug`` for a seeded bug), and then goes through the same validation as
a Python design. Only what the dataclasses hold can be said: ``Op(code=...)`` and driver programs need
Python.

    name = "my-heap"
    kernel = "v6.16"
    kinds = ["static", "dynamic"]
    [mix]
    static = 1
    dynamic = 1
    [ops.map]
    allocates = "GFP_KERNEL"
    [ops.unmap]
    [ops.release]

TOML has no null: an optional setting that is off is written ``false`` (``waits = false`` under ``[move]``:
the move waits for no fence).

``to_data`` writes a design back as the same structure (``dmabuf-check list --design NAME --as toml``),
so a Python design converts to data in one command.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing

from dmabuf_check.model.design import MAX_NAME, Bug, Design, Evict, Importer, Move, Op, Signalling, Submit
from dmabuf_check.model.types import ModelError
from dmabuf_check.model.userfiles import DATA_SUFFIXES as SUFFIXES
from dmabuf_check.model.userfiles import read_bytes

LIMIT = 1 << 20  # a design is a page of settings
PARTS = {"move": Move, "submit": Submit, "evict": Evict, "signalling": Signalling, "importer": Importer}


def is_data_design(path: str) -> bool:
    return path.endswith(SUFFIXES)


def load(path: str) -> tuple[Design, Bug | None]:
    """Parse a data design (no code runs); every problem is one ModelError line naming the file."""
    raw = read_bytes(path, "design file", LIMIT)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelError(f"design file {path} is not UTF-8 text (byte {e.start})") from None
    try:
        doc = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ModelError(f"design file {path} does not parse as TOML: {e}") from None
    except json.JSONDecodeError as e:
        raise ModelError(f"design file {path} does not parse as JSON: {e.msg} at line {e.lineno} "
                         f"column {e.colno}") from None
    except RecursionError:
        raise ModelError(f"design file {path} nests too deeply to be a design") from None
    if not isinstance(doc, dict):
        raise ModelError(f"design file {path}: the document must be a table of design fields, got "
                         f"{type(doc).__name__}")
    bug_doc = doc.pop("bug", None)
    name = doc.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        raise ModelError(f"design file {path}: name must be a string of 1 to {MAX_NAME} characters, got "
                         f"{str(name)[:40]!r}")
    design = _build(Design, doc, f"{path}")
    bug = _build(Bug, bug_doc, f"{path}: bug") if bug_doc is not None else None
    return design, bug


def _build(cls: type, doc: object, where: str):
    if not isinstance(doc, dict):
        raise ModelError(f"{where}: must be a table of {cls.__name__} fields, got {type(doc).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in doc.items():
        if key == "code" and cls is Op:
            raise ModelError(f"{where}: an op's code is Python (Op(code=...)): a data design holds flags only; "
                             "write the design as a .py file to give code")
        if key not in fields:
            raise ModelError(f"{where}: unknown field {key!r} of {cls.__name__} (fields: {', '.join(fields)})")
        kwargs[key] = _value(hints[key], value, f"{where}: {key}" if cls is Design else f"{where}.{key}")
    if "name" in fields and "name" not in kwargs and cls is Design:
        raise ModelError(f"{where}: a design needs a name")
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field missing (Bug)
        raise ModelError(f"{where}: {e}") from None


def _value(t: object, v: object, where: str) -> object:
    """The TOML/JSON value as the dataclass field holds it: arrays become tuples, tables become the part's
    dataclass; a value of another shape passes through for the design's validation to name."""
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (v is None or v is False) and bool not in args:
            return None  # TOML has no null: "waits = false" is no wait, a part set to false is absent
        part = next((a for a in args if dataclasses.is_dataclass(a)), None)
        if part is not None and isinstance(v, dict):
            return _build(part, v, where)
        return v
    if dataclasses.is_dataclass(t) and isinstance(v, dict):
        return _build(t, v, where)  # type: ignore[arg-type]
    if origin is tuple and isinstance(v, list):
        return tuple(v)
    if origin is dict and args and args[1] is Op and isinstance(v, dict):
        return {k: _build(Op, op, f"{where}.{k}") if isinstance(op, dict) else op for k, op in v.items()}
    return v


def to_data(d: Design, bug: Bug | None = None) -> dict[str, object]:
    """The design as the data form's structure (defaults left out, so the file says what is particular)."""
    if any(op.code is not None for op in d.ops.values()):
        raise ModelError(f"design {d.name} has an op written as code (Op(code=...)); the data form holds flags only")
    out = _fields(d)
    if bug is not None:
        out["bug"] = _fields(bug)
    return out


def _fields(obj: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        v = getattr(obj, f.name)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        if v == default and f.name not in ("name", "ops"):
            continue
        if v is None:
            out[f.name] = False  # a None that is not the default (Move.waits = None): false in the data form
            continue
        if dataclasses.is_dataclass(v):
            out[f.name] = _fields(v)
        elif isinstance(v, tuple):
            out[f.name] = list(v)
        elif isinstance(v, dict):
            out[f.name] = {k: _fields(x) if dataclasses.is_dataclass(x) else x for k, x in v.items()}
        else:
            out[f.name] = v
    return out


def dumps_toml(doc: dict[str, object]) -> str:
    """TOML for the data form's structure: scalars and arrays first, then one [table] per part."""
    lines: list[str] = []
    _table(doc, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(doc: dict[str, object], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    if path and (scalars or not tables):
        lines.append("")
        lines.append(f"[{'.'.join(_key(p) for p in path)}]")
    for k, v in scalars.items():
        lines.append(f"{_key(k)} = {_toml_value(v)}")
    for k, v in tables.items():
        _table(v, [*path, k], lines)  # type: ignore[arg-type]


def _key(k: str) -> str:
    return k if k and all(c.isalnum() or c in "_-" for c in k) else json.dumps(k)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise ModelError(f"cannot write {type(v).__name__} {v!r} as TOML")
