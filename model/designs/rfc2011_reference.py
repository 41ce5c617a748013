"""The reference design of the 2011 RFC ("[RFC 2/2] dma-buf: Documentation for buffer sharing framework").

The exporter implements attach, detach, get_scatterlist (map),
put_scatterlist (unmap) and release:

- backing storage is allocated lazily at the first get_scatterlist, once the
  exporter knows every attached device's constraints (MAP-13);
- migration of backing storage stalls new get_scatterlist calls until every
  outstanding mapping is put back, then moves and resumes (MIG-1); the
  exporter's own lock is not held while it waits;
- once the buffer is mapped the exporter may refuse new attachments (MIG-2);
- no reservation object, no fences, no CPU access through the framework.
"""

from dmabuf_check.model.design import Design, Move, Op

DESIGN = Design(
    name="rfc2011-reference",
    title="The 2011 RFC's reference exporter (get/put_scatterlist, migration by stalling)",
    follows="RFC mail '[RFC 2/2] dma-buf: Documentation for buffer sharing framework' (Oct 2011)",
    kernel="rfc2011",
    locks=("lock",),
    ops={
        "attach": Op(locks=("lock",)),
        "detach": Op(locks=("lock",)),
        "map": Op(locks=("lock",), allocates="GFP_KERNEL"),
        "unmap": Op(locks=("lock",)),
        "release": Op(),
    },
    placements=("SYS", "VRAM"),
    allocate="first-map",
    move=Move(locks=(), notify=False, waits=None, allocates="GFP_KERNEL"),
    refuse_attach_after_map=True,
    kinds=("static",),
    mix={"static": 3},
)
