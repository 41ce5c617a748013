"""drm-shmem's mmap taking the resv while the v6.2-v6.5 core already held it (self-import).

Change to gem-prime: the shmem mmap that takes resv (correct from v6.6) runs under the v6.2 core lock.

Source: 'dma-buf: Change locking policy for mmap()' (D. Osipenko, Apr 2023) after Intel CI igt@prime_vgem@sync found
the self-import mmap deadlock once drm-shmem took the reservation lock

Caught by: no-recursive-lock (DL-9, LOCK-8, MMAP-3).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.gem_prime import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-mmap-resv-v62",
    title="drm-shmem's mmap taking the resv while the v6.2-v6.5 core already held it (self-import).",
    kernel="v6.2",
)

BUG = Bug(
    base="gem-prime",
    change='the shmem mmap that takes resv (correct from v6.6) runs under the v6.2 core lock',
    property="no-recursive-lock",
    rules=('DL-9', 'LOCK-8', 'MMAP-3'),
    source=(
        "'dma-buf: Change locking policy for mmap()' (D. Osipenko, Apr 2023) after Intel CI "
        'igt@prime_vgem@sync found the self-import mmap deadlock once drm-shmem took the reservation lock'
    ),
    kind="map/attach bracketing",
    kernel='v6.2',
    mix='cpu=1',
    buffers=None,
)
