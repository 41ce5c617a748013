# expect: mix: at most 6 importers, got 100000000000000000000 (DYN-1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="mix-huge", mix={"static": 10**20}, ops={"map": Op(), "unmap": Op(), "release": Op()})
