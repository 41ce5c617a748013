# expect: allocate: must be one of export, attach, first-map, got 'first-use' (MAP-13)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="alloc", allocate="first-use", ops={"map": Op(), "unmap": Op(), "release": Op()})
