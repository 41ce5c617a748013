# expect: the design file raised Weird while loading: (unprintable)
class Weird(Exception):
    def __str__(self):
        raise ValueError("no")


raise Weird()
