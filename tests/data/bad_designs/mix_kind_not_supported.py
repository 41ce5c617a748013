# expect: mix: kind 'dynamic' is not in Design.kinds (DYN-1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="mix", kinds=("static",), mix={"dynamic": 2}, ops={"map": Op(), "unmap": Op(), "release": Op()})
