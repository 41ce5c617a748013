# expect: the design file raised ZeroDivisionError while loading: integer division or modulo by zero
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="zero", ops={"map": Op(), "unmap": Op(), "release": Op()}, buffers=1 // 0)
