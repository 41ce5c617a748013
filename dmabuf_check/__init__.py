"""dmabuf-check: a model checker for the Linux dma-buf buffer-sharing and fence protocol.

One import package; its subpackages are the architecture (docs/architecture.md):

- ``dmabuf_check.model``: the modeling language, the dma-buf component models, R1 and the designs
- ``dmabuf_check.properties``: the property catalog, each property with its kernel rule
- ``dmabuf_check.registry``: every model, design and seeded bug the tool can check, by name
- ``dmabuf_check.checker``: the engines (``explicit``, ``z3``, ``locks``) and their shared result types
- ``dmabuf_check.traces``: counterexample traces: format, replay, shrinking, rendering, exports
- ``dmabuf_check.cli``: the ``dmabuf-check`` command

The Python API::

    from dmabuf_check import check
    assert check("r1", importers=3, kind="dynamic").ok
"""

from __future__ import annotations

import os as _os

# In a source checkout the subpackages live in the repository's top-level folders (model/,
# properties/, checker/, traces/: the product's layout), which setuptools' package-dir maps into
# dmabuf_check/ when it builds the wheel. Let an uninstalled checkout import them by the same names.
_here = _os.path.dirname(_os.path.abspath(__file__))
_root = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "model")) and _os.path.isfile(_os.path.join(_root, "pyproject.toml")) \
        and _os.path.isfile(_os.path.join(_root, "model", "lang.py")):
    __path__.append(_root)  # type: ignore[name-defined]  # noqa: F821

__all__ = ["check"]


def __getattr__(name: str):
    # lazy: importing the package (the CLI does) must not import every engine
    if name == "check":
        from dmabuf_check.checker.api import check

        return check
    raise AttributeError(f"module 'dmabuf_check' has no attribute {name!r}")
