# expect: move: a move needs a second placement (Design.placements) (MIG-3)
from dmabuf_check.model.design import Design, Move, Op

DESIGN = Design(name="nowhere", move=Move(), ops={"map": Op(), "unmap": Op(), "release": Op()})
