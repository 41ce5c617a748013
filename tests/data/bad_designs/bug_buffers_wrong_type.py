# expect: BUG.buffers must be 1, 2 or None, got 'two'
from dmabuf_check.model.design import Bug, Design, Op

DESIGN = Design(name="bug-buffers", ops={"map": Op(), "unmap": Op(), "release": Op()})
BUG = Bug(base="x", change="y", property="z", rules=("MAP-1",), source="s", kind="k", buffers="two")
