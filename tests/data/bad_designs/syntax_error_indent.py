# expect: syntax error in the design file: unexpected indent
from dmabuf_check.model.design import Design, Op

    DESIGN = Design(name="indent", ops={})
