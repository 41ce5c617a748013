# expect: kinds: p2p importers need an exporter that hands out peer-to-peer mappings (Design.p2p) (DYN-10)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="p2p", kinds=("p2p",), mix={"p2p": 2}, ops={"map": Op(), "unmap": Op(), "release": Op()})
