# expect: has no 'release' op
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="no-release", ops={"map": Op(), "unmap": Op()})
