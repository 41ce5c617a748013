# expect: the design file raised GeneratorExit while loading: stop
raise GeneratorExit("stop")
