"""The layout is the architecture: one import package, no import circles, data flowing one way.

The import graph is read statically from every module (imports inside functions and under
TYPE_CHECKING included: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
import os
import tomllib

import networkx as nx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPROJECT = tomllib.loads(open(os.path.join(ROOT, "pyproject.toml")).read())
PACKAGE_DIR: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]

# what each layer may import (model -> properties -> registry -> checker -> traces -> cli)
LAYERS = ["model", "properties", "registry", "checker", "traces", "cli"]


def modules() -> dict[str, str]:
    """Import name -> file, through the package-dir mapping (the names the wheel installs)."""
    out = {}
    for pkg, folder in PACKAGE_DIR.items():
        base = os.path.join(ROOT, folder)
        for dp, dn, fn in os.walk(base):
            dn[:] = [d for d in dn if d != "__pycache__" and os.path.isfile(os.path.join(dp, d, "__init__.py"))]
            rel = os.path.relpath(dp, base)
            parts = [pkg] + ([] if rel == "." else rel.split(os.sep))
            for f in fn:
                if f.endswith(".py"):
                    name = ".".join(parts + ([] if f == "__init__.py" else [f[:-3]]))
                    out[name] = os.path.join(dp, f)
    return out


def import_graph() -> nx.DiGraph:
    mods = modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name)
        is_pkg = path.endswith("__init__.py")
        for node in ast.walk(ast.parse(open(path).read())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            for t in targets:
                if t in mods and t != name:
                    g.add_edge(name, t)
    return g


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "package"


def test_every_module_is_inside_the_one_import_package():
    mods = modules()
    assert len(mods) > 100
    assert all(m == "dmabuf_check" or m.startswith("dmabuf_check.") for m in mods)
    for folder in ("model", "properties", "checker", "traces"):
        assert PACKAGE_DIR[f"dmabuf_check.{folder}"] == folder  # the product's top-level folders
    assert {"dmabuf_check.checker.explicit.search", "dmabuf_check.checker.z3.bmc", "dmabuf_check.checker.locks.order",
            "dmabuf_check.registry", "dmabuf_check.cli.main"} <= set(mods)


def test_every_package_folder_is_in_the_wheel():
    """A new subpackage that pyproject does not list would be missing from the installed tool."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    pkgs = {m for m, p in modules().items() if p.endswith("__init__.py")}
    assert pkgs == listed


def test_no_import_circles():
    cycles = list(nx.simple_cycles(import_graph()))
    assert cycles == []


def test_data_flows_one_way():
    """model -> properties -> registry -> checker -> traces -> cli: no import runs back up a layer."""
    rank = {name: n for n, name in enumerate(LAYERS)}
    upward = []
    for a, b in import_graph().edges():
        la, lb = layer(a), layer(b)
        if la in rank and lb in rank and rank[lb] > rank[la]:
            upward.append((a, b))
    assert upward == []
    # the engines are independent of each other, except the shared explicit search (limits, compiled successors)
    g = import_graph()
    for a, b in g.edges():
        if a.startswith("dmabuf_check.checker.explicit.") and b.startswith("dmabuf_check.checker."):
            assert not b.startswith(("dmabuf_check.checker.z3.", "dmabuf_check.checker.locks.")), (a, b)
