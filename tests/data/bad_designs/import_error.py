# expect: the design file raised ModuleNotFoundError while loading: No module named 'dmabuf_check.model.desing'
from dmabuf_check.model.desing import Design

DESIGN = Design(name="import")
