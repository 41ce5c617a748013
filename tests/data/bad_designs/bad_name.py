# expect: name: must be a short lower-case name like 'my-heap', 64 characters at most, got 'My Heap' (REF-1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="My Heap", ops={"map": Op(), "unmap": Op(), "release": Op()})
