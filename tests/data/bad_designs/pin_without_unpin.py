# expect: pin and unpin must both be present or both absent (REF-2)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="half-dynamic", ops={"map": Op(), "unmap": Op(), "release": Op(), "pin": Op()})
