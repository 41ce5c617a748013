# expect: has no 'map' op; dma_buf_export() needs map_dma_buf, unmap_dma_buf and release (REF-1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="no-map", ops={"unmap": Op(), "release": Op()})
