"""Two engines completing out of order while sharing one fence context.

Change to ttm-vram: fences of one context may signal out of seqno order.

Source: V4L2 out-fences series (G. Padovan, Nov 2017): 'When it is ordered we can use the same fence context for all
fences, but when it is not we need a new context for each out-fence' (ordered_in_driver)

Caught by: fence-context-order (FENCE-3, RESV-A2).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.ttm_vram import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-fences-out-of-order",
    title='Two engines completing out of order while sharing one fence context.',
    signalling=replace(BASE.signalling, in_order=False),
)

BUG = Bug(
    base="ttm-vram",
    change='fences of one context may signal out of seqno order',
    property="fence-context-order",
    rules=('FENCE-3', 'RESV-A2'),
    source=(
        "V4L2 out-fences series (G. Padovan, Nov 2017): 'When it is ordered we can use the same fence context"
        " for all fences, but when it is not we need a new context for each out-fence' (ordered_in_driver)"
    ),
    kind="fence order and signalling",
    kernel=None,
    mix='static=1,dynamic=1',
    buffers=None,
)
