"""Engines: the explicit-state explorer (and, beside it, the z3 engines)."""

from checker.api import check

__all__ = ["check"]
