# expect: the design file raised BaseException while loading: boom
raise BaseException("boom")
