# expect: defines no DESIGN = Design(...)
from dmabuf_check.model.design import Design, Op

MY_DESIGN = Design(name="unnamed", ops={"map": Op(), "unmap": Op(), "release": Op()})
