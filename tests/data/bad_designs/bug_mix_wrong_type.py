# expect: BUG.mix must be a string or None, got int
from dmabuf_check.model.design import Bug, Design, Op

DESIGN = Design(name="bug-mix", ops={"map": Op(), "unmap": Op(), "release": Op()})
BUG = Bug(base="x", change="y", property="z", rules=("MAP-1",), source="s", kind="k", mix=3)
