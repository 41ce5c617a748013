# expect: ops['map']: must be a Op(...), got dict (REF-1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="dict-op", ops={"map": {"locks": ()}, "unmap": Op(), "release": Op()})
