# expect: locks: 'resv' is not a driver lock name (it is reserved) (LOCK-3)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="reserved", locks=("resv",), ops={"map": Op(), "unmap": Op(), "release": Op()})
