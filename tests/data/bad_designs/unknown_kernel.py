# expect: kernel: unknown protocol generation 'v4.4'
from model.design import Design, Op

DESIGN = Design(name="k", kernel="v4.4", ops={"map": Op(), "unmap": Op(), "release": Op()})
