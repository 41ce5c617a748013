# expect: kernel: unknown protocol generation 'v4.4'
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="k", kernel="v4.4", ops={"map": Op(), "unmap": Op(), "release": Op()})
