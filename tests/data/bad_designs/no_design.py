# expect: defines no DESIGN = Design(...) and no DRIVER = Driver(...)
from dmabuf_check.model.design import Design, Op

MY_DESIGN = Design(name="unnamed", ops={"map": Op(), "unmap": Op(), "release": Op()})
