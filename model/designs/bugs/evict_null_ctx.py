"""TTM eviction that locks the victim's resv without the caller's acquire context.

Change to ttm-evict: the eviction locks the second resv with a NULL context.

Source: d367bd2a5e2b 'drm/ttm: fix busy memory to fail other user v10' (ticket-based locking in eviction so busy BOs
are locked with the caller's ww ticket); dma_resv_lock() kernel-doc on NULL contexts

Caught by: no-fence-wait-deadlock (RESV-W4, DL-5).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_evict import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-evict-null-ctx",
    title="TTM eviction that locks the victim's resv without the caller's acquire context.",
    evict=replace(BASE.evict, ww=False),
)

BUG = Bug(
    base="ttm-evict",
    change='the eviction locks the second resv with a NULL context',
    property="no-fence-wait-deadlock",
    rules=('RESV-W4', 'DL-5'),
    source=(
        "d367bd2a5e2b 'drm/ttm: fix busy memory to fail other user v10' (ticket-based locking in eviction so "
        "busy BOs are locked with the caller's ww ticket); dma_resv_lock() kernel-doc on NULL contexts"
    ),
    kind="ww_mutex misuse",
    kernel=None,
    mix='dynamic=2',
    buffers=None,
)
