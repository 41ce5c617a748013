"""Start-up: a small check imports what it runs, and nothing else (issue 14, "time to verdict <= 0.1 s for
R1 N <= 4 and one-buffer designs"; a small check is start-up bound).

Nothing here times anything (timed tests are flaky on a shared machine): each test runs one command in a
fresh interpreter and asserts which modules it imported. A module-level import added back to a command
module, the registry or the API shows up here as a heavy module in ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from dmabuf_check.model import designs

from dmabuf_check import registry
from dmabuf_check.cli import main as cli_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# never needed by an explicit-state check: the z3 engines, graphs, the lock engine, driver programs, traces
NOT_FOR_A_CHECK = ("z3", "networkx", "dmabuf_check.checker.z3", "dmabuf_check.checker.locks",
                   "dmabuf_check.model.driver", "dmabuf_check.traces", "dmabuf_check.checker.explicit.liveness",
                   "importlib.metadata")
# the design side: r1 needs none of it
DESIGN_SIDE = ("dmabuf_check.model.compose", "dmabuf_check.model.components", "dmabuf_check.model.design",
               "dmabuf_check.model.design_loader", "dmabuf_check.properties.catalog",
               "dmabuf_check.properties.kernel_objects", "dmabuf_check.model.designs")


def modules_after(argv: list[str], rc: int = 0) -> set[str]:
    """The modules a fresh interpreter holds after ``dmabuf-check ARGV`` (which must exit ``rc``)."""
    code = ("import json, sys\n"
            "from dmabuf_check.cli.main import main\n"
            f"rc = main({argv!r})\n"
            "sys.stdout.flush()\n"
            "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\n"
            "sys.exit(rc)\n")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("COLUMNS", None)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert p.returncode == rc, p.stdout + p.stderr
    assert ("properties hold" if rc == 0 else "violated") in p.stdout
    line = [x for x in p.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return set(json.loads(line[len("MODULES "):]))


def loaded(mods: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in mods if any(m == p or m.startswith(p + ".") for p in prefixes))


def other_commands(mods: set[str], own: str) -> list[str]:
    return sorted(m for m in mods if m.startswith("dmabuf_check.cli.cmd_") and m != f"dmabuf_check.cli.{own}")


@pytest.mark.parametrize("n", ["1", "4"])
def test_checking_r1_imports_no_engine_design_or_other_command(n):
    mods = modules_after(["check", "r1", "-n", n])
    assert loaded(mods, NOT_FOR_A_CHECK) == []
    assert loaded(mods, DESIGN_SIDE) == []  # no design, program or bug module is loaded to look up "r1"
    assert other_commands(mods, "cmd_check") == []


@pytest.mark.parametrize("name", ["udmabuf", "system-heap"])
def test_checking_a_one_buffer_design_loads_that_design_only(name):
    mods = modules_after(["check", name])
    assert loaded(mods, NOT_FOR_A_CHECK) == []
    design_modules = [m for m in loaded(mods, ("dmabuf_check.model.designs",)) if m != "dmabuf_check.model.designs"]
    assert design_modules == [f"dmabuf_check.model.designs.{name.replace('-', '_')}"]
    assert other_commands(mods, "cmd_check") == []


def test_checking_a_seeded_bug_loads_that_bug_and_its_base_only():
    mods = modules_after(["check", "bug-vmap-no-pin"], rc=1)  # the counterexample is rendered: traces/ is needed
    assert loaded(mods, ("z3", "networkx", "dmabuf_check.checker.z3", "dmabuf_check.checker.locks")) == []
    design_modules = [m for m in loaded(mods, ("dmabuf_check.model.designs",))
                      if m not in ("dmabuf_check.model.designs", "dmabuf_check.model.designs.bugs")]
    assert design_modules == ["dmabuf_check.model.designs.bugs.vmap_no_pin", "dmabuf_check.model.designs.ttm_vram"]
    assert other_commands(mods, "cmd_check") == []


def test_every_built_in_name_is_built_in_once():
    """A name is found by importing the module named after it (registry._named_module), not every module:
    that gives the full tables' answer only while no two designs, programs, bugs or models share a name."""
    names = list(registry.MODELS)
    for m in designs.BUILTIN:
        names.append(registry._load_module(f"dmabuf_check.model.designs.{m}").name)
    for m in designs.PROGRAMS:
        names.append(registry._load_module(f"dmabuf_check.model.designs.programs.{m}").name)
    for m in registry._bug_modules():
        names.append(registry._load_module(f"dmabuf_check.model.designs.bugs.{m}").name)
    import importlib

    for m in designs.PROGRAMS:
        names += [f"bug-{variant}" for variant in importlib.import_module(f"dmabuf_check.model.designs.programs.{m}").BUGS]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert set(names) - set(registry.MODELS) == set(registry.builtin()) | set(registry.bugs())


def test_a_name_resolves_as_the_full_tables_say():
    tables = {**registry.builtin(), **registry.bugs()}
    for name, ref in tables.items():
        assert registry._builtin_ref(name) is ref, name
        assert registry.resolve(name) is ref, name
        assert registry.is_design(name)
    for name in registry.MODELS:
        assert not registry.is_design(name)
    assert registry._builtin_ref("no-such-design") is None
    assert not registry.is_design("bug-no-such-bug")


def test_prove_spells_the_engines_of_checker_z3():
    """cmd_prove spells the engine names so that its parser does not import z3; they must stay the same."""
    from dmabuf_check.checker.z3.prove import ENGINES

    from dmabuf_check.cli import cmd_prove

    assert cmd_prove.ENGINES == ENGINES


def test_every_command_is_listed_with_its_module(capsys):
    """The commands are filled in lazily: each module of COMMANDS exists, and every one of its parsers (nested
    ones too) takes --format after the command, as when the parser was built eagerly."""
    parser = cli_main.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, cli_main._Commands))
    assert list(sub.choices) == [name for name, _module, _help in cli_main.COMMANDS]
    for name, _module, _help in cli_main.COMMANDS:
        cmd = sub.fill(name)

        def leaves(p):
            nested = [a for a in p._actions if isinstance(a, cli_main.argparse._SubParsersAction)]
            if not nested:
                return [p]
            return [leaf for n in nested for q in n.choices.values() for leaf in leaves(q)]

        for leaf in leaves(cmd):
            assert "--format" in leaf._option_string_actions, leaf.prog
            assert leaf._option_string_actions["--format"].default is cli_main.argparse.SUPPRESS
        sub.fill(name)  # filled once: a second call adds nothing
        assert sum(a.dest == "format" for a in leaves(cmd)[0]._actions) == 1


def test_the_wait_for_cycles_are_the_ones_networkx_finds():
    """properties.waitfor enumerates simple cycles itself (networkx costs a small check a tenth of a
    second to import): the same cycles as networkx.simple_cycles, on random graphs and on every design."""
    import random

    import networkx as nx
    from dmabuf_check.properties import waitfor

    def both(arcs):
        g = nx.DiGraph()
        g.add_edges_from(arcs)
        return waitfor._in_order(nx.simple_cycles(g)), waitfor._in_order(waitfor.simple_cycles(arcs))

    rng = random.Random(14)
    for _ in range(1500):
        n = rng.randint(1, 8)
        arcs = [(f"n{rng.randrange(n)}", f"n{rng.randrange(n)}") for _ in range(rng.randint(1, n * n))]
        theirs, ours = both(arcs)
        assert ours == theirs, arcs
    for ref in {**registry.builtin(), **registry.bugs()}.values():
        model = registry.build(ref)[0]
        theirs, ours = both([(e.src, e.dst) for e in waitfor.edges(model)])
        assert ours == theirs, ref.name
