# expect: unknown op 'mapp'
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="typo", ops={"mapp": Op(), "map": Op(), "unmap": Op(), "release": Op()})
