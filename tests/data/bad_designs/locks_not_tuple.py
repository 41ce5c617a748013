# expect: ops['map'].locks: must be a tuple of names, got 'resv' (LOCK-3)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="string-locks", ops={"map": Op(locks="resv"), "unmap": Op(), "release": Op()})
