# expect: has no 'release' op
from model.design import Design, Op

DESIGN = Design(name="no-release", ops={"map": Op(), "unmap": Op()})
