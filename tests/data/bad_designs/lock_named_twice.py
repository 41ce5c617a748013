# expect: ops['map'].locks: names lock 'lock' twice; a lock order takes each lock once (RESV-L1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="twice", locks=("lock",),
                ops={"map": Op(locks=("lock", "lock")), "unmap": Op(), "release": Op()})
