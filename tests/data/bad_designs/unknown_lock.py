# expect: ops['map'].locks: unknown lock 'drv'
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="undeclared-lock", ops={"map": Op(locks=("drv",)), "unmap": Op(), "release": Op()})
