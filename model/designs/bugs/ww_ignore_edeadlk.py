"""A submission that treats -EDEADLK like contention and keeps waiting while holding a lock.

Change to ttm-evict: the importer ignores -EDEADLK and blocks on the lock.

Source: 5e338405119a 'drm/ttm: convert to the reservation api': 'ww_mutex uses -EDEADLK to signal that the caller has
to back off ... So some changes were needed to handle this correctly'

Caught by: no-fence-wait-deadlock (DL-5, RESV-W1).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_evict import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-ww-ignore-edeadlk",
    title='A submission that treats -EDEADLK like contention and keeps waiting while holding a lock.',
    importer=replace(BASE.importer, ww_backoff="ignore"),
)

BUG = Bug(
    base="ttm-evict",
    change='the importer ignores -EDEADLK and blocks on the lock',
    property="no-fence-wait-deadlock",
    rules=('DL-5', 'RESV-W1'),
    source=(
        "5e338405119a 'drm/ttm: convert to the reservation api': 'ww_mutex uses -EDEADLK to signal that the "
        "caller has to back off ... So some changes were needed to handle this correctly'"
    ),
    kind="ww_mutex misuse",
    kernel=None,
    mix='dynamic=2',
    buffers=None,
)
