# expect: buffers: must be 1 or 2, got 3 (RESV-W1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="three", buffers=3, ops={"map": Op(), "unmap": Op(), "release": Op()})
