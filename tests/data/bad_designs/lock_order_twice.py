# expect: lock_order: names a lock twice (RESV-L1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="order-twice", locks=("a",), lock_order=("a", "a"),
                ops={"map": Op(), "unmap": Op(), "release": Op()})
