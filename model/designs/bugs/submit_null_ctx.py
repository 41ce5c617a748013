"""Command submission that locks two buffers with NULL contexts in user-given order.

Change to ttm-evict: importers lock both resvs without an acquire context.

Source: dma_resv_lock() kernel-doc: 'NULL ctx ... no deadlock avoidance'; the i915 ww conversion series ('drm/i915:
Add ww locking around vm_access()' and siblings) replaced such nested locks

Caught by: no-fence-wait-deadlock (RESV-W4, DL-5).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_evict import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-submit-null-ctx",
    title='Command submission that locks two buffers with NULL contexts in user-given order.',
    importer=replace(BASE.importer, ww_ctx=False),
)

BUG = Bug(
    base="ttm-evict",
    change='importers lock both resvs without an acquire context',
    property="no-fence-wait-deadlock",
    rules=('RESV-W4', 'DL-5'),
    source=(
        "dma_resv_lock() kernel-doc: 'NULL ctx ... no deadlock avoidance'; the i915 ww conversion series "
        "('drm/i915: Add ww locking around vm_access()' and siblings) replaced such nested locks"
    ),
    kind="ww_mutex misuse",
    kernel=None,
    mix='dynamic=2',
    buffers=None,
)
