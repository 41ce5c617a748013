# expect: move.notify: only a dynamic exporter (pin/unpin) can move a mapped buffer with move_notify (DYN-1)
from dmabuf_check.model.design import Design, Move, Op

DESIGN = Design(name="static-notify", placements=("SYS", "VRAM"), move=Move(),
                ops={"map": Op(), "unmap": Op(), "release": Op()})
