# expect: submit.locks: adding a fence needs the buffer's resv lock (RESV-A1)
from dmabuf_check.model.design import Design, Op, Submit

DESIGN = Design(name="submit", submit=Submit(locks=()), ops={"map": Op(), "unmap": Op(), "release": Op()})
