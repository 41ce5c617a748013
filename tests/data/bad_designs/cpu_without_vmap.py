# expect: kinds: cpu importers need a vmap or mmap op to reach the buffer (CPU-7)
from dmabuf_check.model.design import Design, Op

DESIGN = Design(name="cpu", kinds=("cpu",), mix={"cpu": 1}, ops={"map": Op(), "unmap": Op(), "release": Op()})
