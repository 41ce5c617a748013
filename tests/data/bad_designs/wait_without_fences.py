# expect: ops['map'].waits: the v3.3 contract has no fences to wait for (HIST-3)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="old-wait", kernel="v3.3", ops={"map": Op(waits="WRITE"), "unmap": Op(), "release": Op()})
