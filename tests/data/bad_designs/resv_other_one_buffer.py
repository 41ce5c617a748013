# expect: ops['map'].locks: resv_other needs a two-buffer design (Design.buffers = 2) (RESV-W1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="other", ops={"map": Op(locks=("resv_other",)), "unmap": Op(), "release": Op()})
