# expect: importer.ww_backoff: must be one of release, keep, ignore, got 'retry' (RESV-W2)
from dmabuf_check.model.design import Design, Importer, Op

DESIGN = Design(name="ww", importer=Importer(ww_backoff="retry"), ops={"map": Op(), "unmap": Op(), "release": Op()})
