# expect: syntax_error.py:4: syntax error in the design file
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="broken", ops={"map": Op(), "unmap": Op(), "release": Op()}
