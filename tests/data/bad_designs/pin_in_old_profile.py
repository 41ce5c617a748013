# expect: ops['pin']: the v3.3 contract has no pin/unpin (dynamic dma-buf came in v5.7) (HIST-4)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="old-pin", kernel="v3.3", ops={"map": Op(), "unmap": Op(), "release": Op(), "pin": Op(), "unpin": Op()})
