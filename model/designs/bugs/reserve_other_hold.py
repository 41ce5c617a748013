"""An exporter submission that reserves its fence slot, unlocks, relocks and only then adds the fence.

Change to ttm-vram: the fence slot is reserved in an earlier lock hold.

Source: dma_resv_reserve_fences()/dma_resv_add_fence() BUG_ON and dma_resv_reset_max_fences() at unlock; the v6.2
NULL-pointer report of the out-of-tree Mali driver (bootlin/mali-driver#7), fixed by reserving fences before
every add

Caught by: fence-slot-reserved (RESV-A1, DL-17).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-reserve-other-hold",
    title='An exporter submission that reserves its fence slot, unlocks, relocks and only then adds the fence.',
    submit=replace(BASE.submit, reserve_first=False),
)

BUG = Bug(
    base="ttm-vram",
    change='the fence slot is reserved in an earlier lock hold',
    property="fence-slot-reserved",
    rules=('RESV-A1', 'DL-17'),
    source=(
        'dma_resv_reserve_fences()/dma_resv_add_fence() BUG_ON and dma_resv_reset_max_fences() at unlock; the'
        ' v6.2 NULL-pointer report of the out-of-tree Mali driver (bootlin/mali-driver#7), fixed by reserving'
        ' fences before every add'
    ),
    kind="ww_mutex misuse",
    kernel=None,
    mix='static=1,dynamic=1',
    buffers=None,
)
