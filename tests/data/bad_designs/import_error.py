# expect: the design file raised ModuleNotFoundError while loading: No module named 'model.desing'
from model.desing import Design

DESIGN = Design(name="import")
