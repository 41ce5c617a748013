# expect: ops['map'].waits: must be one of KERNEL, WRITE, READ, BOOKKEEP or None, got 'ALL' (MIG-6)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="wait-all", ops={"map": Op(waits="ALL"), "unmap": Op(), "release": Op()})
