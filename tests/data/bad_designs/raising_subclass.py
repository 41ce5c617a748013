# expect: reading it raised RuntimeError: no ops for you
from dmabuf_check.model.design import Design, Op


class Sneaky(Design):
    def __getattribute__(self, name):
        if name == "ops":
            raise RuntimeError("no ops for you")
        return super().__getattribute__(name)


DESIGN = Sneaky(name="sneaky", ops={"map": Op(), "unmap": Op(), "release": Op()})
