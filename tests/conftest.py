import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # the tests also run from a plain checkout without installing
    sys.path.insert(0, ROOT)

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@pytest.fixture(scope="session")
def expected_r1() -> dict:
    """R1's figures measured with Rumur, SPIN and a Python BFS (copied from spec/expected-R1.json)."""
    return load_expected()


def load_expected() -> dict:
    # shipped in the package (model/expected_r1.json): bench compares with the same file
    with open(os.path.join(ROOT, "model", "expected_r1.json")) as f:
        return json.load(f)


@pytest.fixture(autouse=True)
def _no_inherited_columns(monkeypatch):
    # pytest-xdist's workers export COLUMNS=80 and a shell may export its own: every test sees the width a
    # pipe gets by default, and the tests about $COLUMNS set it themselves
    monkeypatch.delenv("COLUMNS", raising=False)
