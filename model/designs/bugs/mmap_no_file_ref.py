"""A user-space mapping that does not hold a reference on the dma-buf file.

Change to udmabuf: the VMA does not keep the file alive.

Source: 295992fb815e 'mm: introduce vma_set_file function v5' ('allow changing vma->vm_file with the necessary
refcount dance', used by dma_buf_mmap) and 1527f926fd04 'mm: mmap: fix fput in error path v2'

Caught by: release-is-final (REF-12, REF-8).
"""

from dataclasses import replace

from dmabuf_check.model.design import Bug
from dmabuf_check.model.designs.udmabuf import DESIGN as BASE

DESIGN = replace(
    BASE,
    name="bug-mmap-no-file-ref",
    title='A user-space mapping that does not hold a reference on the dma-buf file.',
    importer=replace(BASE.importer, mmap_holds_file_ref=False),
)

BUG = Bug(
    base="udmabuf",
    change='the VMA does not keep the file alive',
    property="release-is-final",
    rules=('REF-12', 'REF-8'),
    source=(
        "295992fb815e 'mm: introduce vma_set_file function v5' ('allow changing vma->vm_file with the "
        "necessary refcount dance', used by dma_buf_mmap) and 1527f926fd04 'mm: mmap: fix fput in error path "
        "v2'"
    ),
    kind="lifetime/refcount",
    kernel=None,
    mix='cpu=1',
    buffers=None,
)
