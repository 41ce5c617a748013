# expect: evict: evicting another buffer needs a two-buffer design (Design.buffers = 2) (RESV-W1)
from dmabuf_check.model.design import Design, Evict, Move, Op

DESIGN = Design(name="evict1", placements=("SYS", "VRAM"), move=Move(), evict=Evict(locks=("resv",)),
                ops={"map": Op(), "unmap": Op(), "release": Op(), "pin": Op(), "unpin": Op()})
