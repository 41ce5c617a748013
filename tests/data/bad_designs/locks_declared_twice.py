# expect: locks: declares a lock twice (LOCK-3)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="decl-twice", locks=("a", "a"), ops={"map": Op(), "unmap": Op(), "release": Op()})
