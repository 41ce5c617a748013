# expect: placements: unknown placement 'GTT' (known: SYS, VRAM) (MIG-3)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="gtt", placements=("GTT",), ops={"map": Op(), "unmap": Op(), "release": Op()})
