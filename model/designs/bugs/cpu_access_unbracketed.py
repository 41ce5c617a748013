"""A CPU user that reads and writes the buffer outside begin/end_cpu_access.

Change to udmabuf: CPU access without begin/end_cpu_access.

Source: 'udmabuf: fix dma-buf cpu access' (G. Singh, Dec 2019, Fixes: 284562e1): 'CPU access from the importer must be
surrounded by {begin,end}_cpu_access'

Caught by: cpu-access-bracketed (CPU-1, CPU-9).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.udmabuf import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-cpu-access-unbracketed",
    title='A CPU user that reads and writes the buffer outside begin/end_cpu_access.',
    importer=replace(BASE.importer, brackets_cpu_access=False),
)

BUG = Bug(
    base="udmabuf",
    change='CPU access without begin/end_cpu_access',
    property="cpu-access-bracketed",
    rules=('CPU-1', 'CPU-9'),
    source=(
        "'udmabuf: fix dma-buf cpu access' (G. Singh, Dec 2019, Fixes: 284562e1): 'CPU access from the "
        "importer must be surrounded by {begin,end}_cpu_access'"
    ),
    kind="CPU-access bracketing",
    kernel=None,
    mix='cpu=1',
    buffers=None,
)
