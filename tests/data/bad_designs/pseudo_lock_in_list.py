# expect: 'fs_reclaim' is a lockdep pseudo-lock; say allocates=/faults=/waits= instead (RESV-L1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="pseudo", ops={"map": Op(locks=("fs_reclaim",)), "unmap": Op(), "release": Op()})
