"""docs/api.md runs: every python block of the API page is executed, so its assertions are the API's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_api_page_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("n", range(len(BLOCKS)))
def test_api_page_example_runs(n):
    exec(compile(BLOCKS[n], f"docs/api.md block {n + 1}", "exec"), {})
