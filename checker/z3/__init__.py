"""The z3 engines, reading the same typed model trees as the explicit engine.

terms/encode/param translate a model (fixed N, or N symbolic); bmc, kind and chc search or prove;
candidates/houdini find lemmas; certificate re-checks every proof; alln proves for every N;
deadlock decides wait-for cycle reachability; prove runs them for the CLI.
"""
