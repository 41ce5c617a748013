"""The engines, one subpackage each, and the result types they share.

- ``explicit``: breadth-first explicit-state search, exact symmetry reduction, liveness on the state graph
- ``z3``: bounded model checking, k-induction, Spacer, Houdini lemmas, proofs for every N
- ``locks``: the lockdep-style lock-order analysis over the explored transitions

``result`` (verdicts, check results) and ``paths`` (counterexamples rebuilt through the compiled
model) are shared by all three; ``api`` is the Python entry point (``dmabuf_check.check``).
"""
