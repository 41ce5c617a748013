# expect: importer.ww_ctx: must be True or False, got 1 (DYN-1)
from dmabuf_check.model.design import Design, Importer, Op

DESIGN = Design(name="imp", importer=Importer(ww_ctx=1), ops={"map": Op(), "unmap": Op(), "release": Op()})
