"""The explicit-state engine: search (BFS over compiled successors), symmetry (exact canonical forms), liveness."""
