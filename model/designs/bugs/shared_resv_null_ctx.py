"""Two buffers sharing one reservation object, locked one after the other with NULL contexts.

Change to ttm-evict: buffers share a resv (REF-4) and submissions lock both without an acquire context.

Source: Documentation/locking/ww-mutex-design.rst: locking an object already held in the same context returns
-EALREADY ('usable to detect duplicate objects'); without a context the second lock of a shared resv (e.g. GEM
objects that share their VM's resv) blocks on itself

Caught by: no-recursive-lock (RESV-W3, RESV-W4, DL-14).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_evict import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-shared-resv-null-ctx",
    title='Two buffers sharing one reservation object, locked one after the other with NULL contexts.',
    shared_resv=True,
    importer=replace(BASE.importer, ww_ctx=False),
)

BUG = Bug(
    base="ttm-evict",
    change='buffers share a resv (REF-4) and submissions lock both without an acquire context',
    property="no-recursive-lock",
    rules=('RESV-W3', 'RESV-W4', 'DL-14'),
    source=(
        'Documentation/locking/ww-mutex-design.rst: locking an object already held in the same context '
        "returns -EALREADY ('usable to detect duplicate objects'); without a context the second lock of a "
        "shared resv (e.g. GEM objects that share their VM's resv) blocks on itself"
    ),
    kind="ww_mutex misuse",
    kernel=None,
    mix='dynamic=2',
    buffers=None,
)
