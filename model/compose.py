"""Build one model from an exporter design, a protocol profile and an importer mix.

    model, info = build(design, "v6.2", mix="static=1,dynamic=2")

The components are called in a fixed order: declarations of every part
first (so any action may read any variable), then the actions, then the
program counters of multi-step calls. ``info`` (a ``BuildInfo``) records what
the properties of ``properties.catalog`` need to know about the generated
actions; the model itself is plain data like any other.
"""

from __future__ import annotations

from dmabuf_check.model.components import attachment, buffer, cpu_access, fence, placement, resv, signalling, ww
from dmabuf_check.model.components.context import BuildContext, BuildInfo
from dmabuf_check.model.components.program import finalize
from dmabuf_check.model.design import KINDS, MAX_IMPORTERS, Design
from dmabuf_check.model.lang import Model
from dmabuf_check.model.profiles import PROFILES, Profile, config_text, parse_config, profile
from dmabuf_check.model.types import ModelError
from dmabuf_check.model.validate import validate


def parse_mix(text: str) -> dict[str, int]:
    """``static=1,dynamic=2`` -> {"static": 1, "dynamic": 2}; one line of error naming what is wrong."""
    out: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ModelError(f"--mix: expected KIND=N, got {part!r} (kinds: {', '.join(KINDS)})")
        k, _, n = part.partition("=")
        k = k.strip()
        if k not in KINDS:
            raise ModelError(f"--mix: unknown importer kind {k!r} (kinds: {', '.join(KINDS)})")
        if k in out:
            raise ModelError(f"--mix: kind {k} given twice")
        try:
            count = int(n)
        except ValueError:
            raise ModelError(f"--mix: {k}={n!r} is not a whole number") from None
        if count < 0:
            raise ModelError(f"--mix: {k}={count} is negative")
        out[k] = count
    if sum(out.values()) > MAX_IMPORTERS:
        raise ModelError(f"--mix: at most {MAX_IMPORTERS} importers, got {sum(out.values())}")
    if sum(out.values()) < 1:
        raise ModelError("--mix: needs at least one importer")
    return out


def mix_text(mix: dict[str, int]) -> str:
    return ",".join(f"{k}={n}" for k, n in mix.items() if n)


def resolve_mix(d: Design, mix: dict[str, int] | str | None, importers: int | None) -> dict[str, int]:
    """The importer mix of a check: --mix, or the design's default mix (cut or extended to --importers)."""
    if isinstance(mix, str):
        mix = parse_mix(mix)
    if mix is not None:
        total = sum(mix.values())
        if importers is not None and importers != total:
            raise ModelError(f"--importers {importers} disagrees with --mix ({total} importers)")
        chosen = dict(mix)
    else:
        if importers is not None and importers > MAX_IMPORTERS:  # refused before any list of that size is built
            raise ModelError(f"at most {MAX_IMPORTERS} importers, got {importers}")
        base = [k for k, n in d.mix.items() for _ in range(n)]
        want = importers if importers is not None else len(base)
        order = list(dict.fromkeys(base)) or list(d.kinds)
        kinds = base[:want] + [order[j % len(order)] for j in range(max(0, want - len(base)))]
        chosen = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    for k, n in chosen.items():
        if n and k not in d.kinds:
            raise ModelError(f"design {d.name} does not support {k} importers (kinds: {', '.join(d.kinds)}; "
                             "Design.kinds, DYN-1)")
    total = sum(chosen.values())
    if total > MAX_IMPORTERS:
        raise ModelError(f"at most {MAX_IMPORTERS} importers, got {total}")
    return {k: n for k, n in chosen.items() if n}


def build(d: Design, kernel: Profile | str | None = None, *, mix: dict[str, int] | str | None = None,
          importers: int | None = None, buffers: int | None = None, source: str = "",
          config: str | None = None) -> tuple[Model, BuildInfo]:
    if not isinstance(d, Design):
        raise ModelError(f"DESIGN must be a dmabuf_check.model.design.Design(...), got {type(d).__name__}")
    if not isinstance(d.kernel, str):
        raise ModelError(f"design {d.name!r}: kernel: must be a protocol generation name (a string), "
                         f"got {type(d.kernel).__name__}")
    if kernel is None and d.kernel not in PROFILES:
        validate(d, profile(None))  # reports the design's unknown kernel field
    p = kernel if isinstance(kernel, Profile) else profile(kernel or d.kernel)
    try:
        validate(d, p)
    except ModelError:
        raise
    except Exception as e:  # a Design whose fields cannot even be read (a subclass with raising properties, ...)
        raise ModelError(f"design {getattr(d, 'name', '?')!r}: reading it raised {type(e).__name__}: {e}") from None
    cfg = parse_config(p, config)
    chosen = resolve_mix(d, mix, importers)
    if chosen.get("p2p") and not p.peer2peer:
        raise ModelError(f"the {p.name} contract has no peer-to-peer importers (dma_buf_attach_ops.allow_peer2peer "
                         "came in v5.8: 'dma-buf: add peer2peer flag'); drop p2p from --mix")
    kinds = tuple(k for k, n in chosen.items() for _ in range(n))
    nbuf = buffers if buffers is not None else d.buffers
    if nbuf not in (1, 2):
        raise ModelError(f"--buffers must be 1 or 2, got {nbuf}")
    if d.evict is not None and nbuf != 2:
        raise ModelError(f"design {d.name}: evict needs two buffers (Design.buffers = 2)")
    params: dict[str, object] = {"kernel": p.name, "mix": mix_text(chosen), "buffers": nbuf}
    if cfg:
        params["config"] = config_text(cfg)  # every option of the generation, so a trace rebuilds exactly this
    m = Model(d.name, d.title or d.name, params=params, source=source)
    importers_set = m.index_set("importers", len(kinds), "importer")
    cx = BuildContext(m, importers_set, nbuf, kinds)
    cx.info.facts.update({
        "profile": p.name, "design": d.name, "fence_annotations": p.fence_annotations,
        "move_notify": cfg.get("DMABUF_MOVE_NOTIFY", True),
        "pipelined": p.fences and d.move is not None and d.move.pipelined,
        "exporter_jobs": p.fences and d.submit is not None,
        # what the exporter's jobs do to the buffer (implicit-sync-devices): a move's copy writes it
        "exporter_access": {v: fence.exporter_access(d, v) for v in ("COPY", "JOB")},
        "exporter_engines": 2 if d.signalling is not None and not d.signalling.in_order else 1,
        "cached_kinds": tuple(k for k in ("STATIC", "DYNAMIC", "P2P")
                              if attachment.cached_at_attach(d, p, k) and k.lower() in kinds),
    })
    buffer.declare_kinds(cx)
    resv.declare(cx, d, p)
    for b in range(nbuf):
        buffer.declare(cx, d, p, b)
        placement.declare(cx, d, p, b)
        attachment.declare(cx, d, p, b)
        fence.declare(cx, d, p, b)
        cpu_access.declare(cx, d, p, b)
    for b in range(nbuf):
        buffer.actions(cx, d, p, b)
        attachment.actions(cx, d, p, b)
        placement.actions(cx, d, p, b)
        fence.job_actions(cx, d, p, b)
        signalling.actions(cx, d, p, b)
        cpu_access.actions(cx, d, p, b)
    ww.register(cx, d, p)
    finalize(cx)
    m.valid_end = buffer.valid_end(cx)
    return m, cx.info
