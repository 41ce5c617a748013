# expect: the design file raised TypeError while loading: Design.__init__() got an unexpected keyword argument 'opps'
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="opps", opps={"map": Op()})
