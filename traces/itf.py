"""Export a trace in the Informal Trace Format (ITF) of Apalache and Quint.

ITF (Apalache ADR-015, https://apalache-mc.org/docs/adr/015adr-trace.html) is
a JSON object ``{"#meta": {...}, "vars": [...], "states": [...], "loop": k}``;
every state is ``{"#meta": {"index": n}, var: value, ...}``. Values:

- booleans are JSON booleans (the model's 0/1 booleans are converted);
- integers are JSON numbers when they fit a double exactly and
  ``{"#bigint": "n"}`` otherwise (``bigint="always"`` writes every integer as
  ``#bigint``, as Quint does);
- enumerations and lock holders are strings ("VRAM", "importer 1");
- per-importer variables are lists, importer 1 first.

The optional ``loop`` is the index of the state the lasso returns to, the
same number as our own format's ``loop``. Our own metadata (model, parameters,
property, tool version) goes into the top-level ``#meta`` under "dmabuf-check";
each state's ``#meta`` also names the action that produced it.
"""

from __future__ import annotations

from dmabuf_check.model.lang import Model
from dmabuf_check.model.types import BoolType
from dmabuf_check.traces.evaluate import build_model, model_source
from dmabuf_check.traces.format import SCHEMA, Trace, TraceError

ITF_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
_SAFE = 2**53 - 1  # the largest integer a JSON reader using doubles keeps exactly


def _int(v: int, always: bool) -> object:
    return {"#bigint": str(v)} if always or not -_SAFE <= v <= _SAFE else v


def _value(v: object, is_bool: bool, always: bool) -> object:
    if isinstance(v, list):
        return [_value(x, is_bool, always) for x in v]
    if is_bool and v in (0, 1):
        return bool(v)
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return _int(v, always)
    return v


def to_itf(trace: Trace, model: Model | None = None, *, bigint: str = "needed") -> dict[str, object]:
    """The trace as an ITF document; ``bigint`` is "needed" (default) or "always"."""
    if bigint not in ("needed", "always"):
        raise ValueError(f"bigint must be 'needed' or 'always', not {bigint!r}")
    always = bigint == "always"
    if model is None:
        try:
            model = build_model(trace.model, trace.params)
        except TraceError:
            model = None  # a trace of a model this build lacks still exports; 0/1 stay integers
    bools = {v.name for v in model.variables if isinstance(v.type, BoolType)} if model is not None else set()
    names = list(trace.initial)
    states = []
    labels = ["init"] + [s.label for s in trace.steps]
    actors = [""] + [s.actor for s in trace.steps]
    for n, st in enumerate(trace.states()):
        meta: dict[str, object] = {"index": n, "action": labels[n]}
        if actors[n]:
            meta["actor"] = actors[n]
        states.append({"#meta": meta, **{k: _value(st.get(k), k in bools, always) for k in names}})
    doc: dict[str, object] = {
        "#meta": {
            "format": "ITF",
            "format-description": ITF_DESCRIPTION,
            "source": model_source(model) if model is not None else trace.model,
            "description": f"dmabuf-check counterexample to {trace.property.id} in {trace.title()}",
            "dmabuf-check": {
                "schema": SCHEMA,
                "tool_version": trace.tool_version,
                "model": trace.model,
                "params": trace.params,
                "property": {"id": trace.property.id, "meaning": trace.property.meaning,
                             "rules": trace.property.rules, "source": trace.property.source},
                "engine": trace.engine,
                "detail": trace.detail,
            },
        },
        "vars": names,
        "states": states,
    }
    if trace.loop is not None:
        doc["loop"] = trace.loop
    return doc


def decode_value(v: object) -> object:
    """An ITF value back as the trace writes it (booleans as 0/1, #bigint as int)."""
    if isinstance(v, dict) and "#bigint" in v:
        return int(v["#bigint"])  # type: ignore[arg-type]
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, list):
        return [decode_value(x) for x in v]
    return v


def itf_states(doc: dict[str, object]) -> list[dict[str, object]]:
    """The states of an ITF document, decoded; lets a test (or a tool) compare them with a trace."""
    names = doc["vars"]
    return [{k: decode_value(s[k]) for k in names} for s in doc["states"]]  # type: ignore[union-attr, index]
