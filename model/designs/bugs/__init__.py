"""The seeded-bug library: each module is a correct design with one small change that reproduces a real
kind of kernel bug, with ``BUG = Bug(...)`` naming the rule it breaks, the property that must report it
and the kernel history it comes from."""
