# expect: ops: must be a dict of op name -> Op(...), got list (REF-1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="list-ops", ops=[Op(), Op()])
