# expect: syntax_error.py:4: syntax error in the design file
from model.design import Design, Op

DESIGN = Design(name="broken", ops={"map": Op(), "unmap": Op(), "release": Op()}
