# expect: move.locks: a move must hold the buffer's resv lock (MIG-3)
from dmabuf_check.model.design import Design, Move, Op

DESIGN = Design(name="unlocked-move", placements=("SYS", "VRAM"), move=Move(locks=()),
                ops={"map": Op(), "unmap": Op(), "release": Op(), "pin": Op(), "unpin": Op()})
