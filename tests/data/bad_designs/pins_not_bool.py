# expect: ops['attach'].pins: must be True or False, got 'yes' (MIG-4)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="pins-str", ops={"attach": Op(pins="yes"), "map": Op(), "unmap": Op(), "release": Op()})
