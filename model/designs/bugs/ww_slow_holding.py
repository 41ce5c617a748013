"""A submission that calls lock_slow after -EDEADLK while still holding its other reservation.

Change to ttm-evict: on -EDEADLK the importer keeps its lock and calls lock_slow.

Source: Documentation/locking/ww-mutex-design.rst and dma_resv_lock() kernel-doc: drop all locks before
ww_mutex_lock_slow; 5e338405119a 'drm/ttm: convert to the reservation api' (nouveau validate:
validate_fini_no_ticket() before ttm_bo_reserve_slowpath)

Caught by: ww-backoff (RESV-W2, DL-5).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_evict import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-ww-slow-holding",
    title='A submission that calls lock_slow after -EDEADLK while still holding its other reservation.',
    importer=replace(BASE.importer, ww_backoff="keep"),
)

BUG = Bug(
    base="ttm-evict",
    change='on -EDEADLK the importer keeps its lock and calls lock_slow',
    property="ww-backoff",
    rules=('RESV-W2', 'DL-5'),
    source=(
        'Documentation/locking/ww-mutex-design.rst and dma_resv_lock() kernel-doc: drop all locks before '
        "ww_mutex_lock_slow; 5e338405119a 'drm/ttm: convert to the reservation api' (nouveau validate: "
        'validate_fini_no_ticket() before ttm_bo_reserve_slowpath)'
    ),
    kind="ww_mutex misuse",
    kernel=None,
    mix='dynamic=2',
    buffers=None,
)
