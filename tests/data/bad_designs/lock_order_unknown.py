# expect: lock_order: unknown lock 'c' (RESV-L1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="order-unknown", locks=("a",), lock_order=("a", "c"),
                ops={"map": Op(), "unmap": Op(), "release": Op()})
