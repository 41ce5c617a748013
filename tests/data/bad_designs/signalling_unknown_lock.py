# expect: signalling.locks: unknown lock 'irq_lock'
from dmabuf_check.model.design import Design, Op, Signalling, Submit

DESIGN = Design(name="sig-lock", submit=Submit(), signalling=Signalling(locks=("irq_lock",)),
                ops={"map": Op(), "unmap": Op(), "release": Op()})
