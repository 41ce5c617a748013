# expect: kernel: must be a protocol generation name (a string), got list
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="kernel-list", kernel=["v6.2"], ops={"map": Op(), "unmap": Op(), "release": Op()})
