# expect: ops['attach'].allocates: must be one of GFP_KERNEL, GFP_NOFS, GFP_NOIO, GFP_ATOMIC or None, got 'GFP_WAIT' (MEM-1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="gfp", ops={"attach": Op(allocates="GFP_WAIT"), "map": Op(), "unmap": Op(), "release": Op()})
