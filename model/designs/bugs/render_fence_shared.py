"""An exporter that publishes its rendering (a write) as a shared (read) fence.

Change to gem-prime: the exporter's write is added as a shared/READ fence.

Source: 6e11ea9de957 'drm/amdgpu: Transfer fences to dmabuf importer' (Bugzilla 107341): 'amdgpu only uses shared-
fences internally, but dmabuf importers rely on implicit write hazard tracking via the exclusive fence'

Caught by: cpu-begin-waits-fences (SYNC-1, CPU-2).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.gem_prime import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-render-fence-shared",
    title='An exporter that publishes its rendering (a write) as a shared (read) fence.',
    submit=replace(BASE.submit, usage="READ"),
)

BUG = Bug(
    base="gem-prime",
    change="the exporter's write is added as a shared/READ fence",
    property="cpu-begin-waits-fences",
    rules=('SYNC-1', 'CPU-2'),
    source=(
        "6e11ea9de957 'drm/amdgpu: Transfer fences to dmabuf importer' (Bugzilla 107341): 'amdgpu only uses "
        'shared-fences internally, but dmabuf importers rely on implicit write hazard tracking via the '
        "exclusive fence'"
    ),
    kind="fence order and signalling",
    kernel='v5.7',
    mix='static=1,cpu=1',
    buffers=None,
)
