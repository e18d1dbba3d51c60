"""tar.py, tarhdr.py and samples.py are pure rules: stdlib and aisloader.errors only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import aisloader

ROOT = Path(aisloader.__file__).parent / "core"
ALLOWED = {"aisloader.errors", "aisloader.core.tar", "aisloader.core.tarhdr"}


@pytest.mark.parametrize("module", ["tar", "tarhdr", "samples"])
def test_pure_imports(module: str) -> None:
    tree = ast.parse((ROOT / f"{module}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    outside = {
        n for n in names if n not in ALLOWED and n.split(".")[0] not in sys.stdlib_module_names
    }
    assert not outside, f"aisloader/core/{module}.py imports {outside}"
    assert names - ALLOWED, "the check found no imports at all"
