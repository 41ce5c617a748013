# expect: kinds: unknown importer kind 'gpu' (known: static, dynamic, p2p, cpu) (DYN-1)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="gpu-kind", kinds=("gpu",), mix={"gpu": 1}, ops={"map": Op(), "unmap": Op(), "release": Op()})
