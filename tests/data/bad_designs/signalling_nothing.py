# expect: signalling: the exporter publishes no fences (no pipelined move, no submit) to signal (SIG-1)
from dmabuf_check.model.design import Design, Op, Signalling

DESIGN = Design(name="sig", signalling=Signalling(), ops={"map": Op(), "unmap": Op(), "release": Op()})
