# expect: mix: must be a dict of kind -> number, got {'static': '3'} (DYN-1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="mix-str", mix={"static": "3"}, ops={"map": Op(), "unmap": Op(), "release": Op()})
