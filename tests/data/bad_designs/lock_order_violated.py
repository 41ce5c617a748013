# expect: ops['unmap'].locks: takes b then a, against Design.lock_order (a before b) (RESV-L1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="inconsistent", locks=("a", "b"), lock_order=("a", "b"),
                ops={"map": Op(locks=("a", "b")), "unmap": Op(locks=("b", "a")), "release": Op()})
