"""An exporter map_dma_buf that takes the resv itself, run under the v6.2 locking convention.

Change to gem-prime: map_dma_buf takes dma_resv_lock although the core holds it (v6.2).

Source: the v6.2 series 'Move dma-buf users to the dynamic locking specification' (D. Osipenko), e.g. 'drm/prime:
Prepare to dynamic dma-buf locking specification' and 47e982d5195d, which moved exporter callbacks to run with
resv held and removed their own locking

Caught by: no-recursive-lock (LOCK-4, DL-14).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug, Op
from dmabuf_check.model.designs.gem_prime import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-map-takes-resv",
    title='An exporter map_dma_buf that takes the resv itself, run under the v6.2 locking convention.',
    ops={**BASE.ops, "map": Op(locks=("resv",), allocates="GFP_KERNEL")},
)

BUG = Bug(
    base="gem-prime",
    change='map_dma_buf takes dma_resv_lock although the core holds it (v6.2)',
    property="no-recursive-lock",
    rules=('LOCK-4', 'DL-14'),
    source=(
        "the v6.2 series 'Move dma-buf users to the dynamic locking specification' (D. Osipenko), e.g. "
        "'drm/prime: Prepare to dynamic dma-buf locking specification' and 47e982d5195d, which moved exporter"
        ' callbacks to run with resv held and removed their own locking'
    ),
    kind="map/attach bracketing",
    kernel='v6.2',
    mix='static=2',
    buffers=None,
)
