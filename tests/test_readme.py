"""The README quickstart and CI run the same test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.startswith("python3 -m venv")]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    tests = [c for c in _commands(quickstart) if "pytest" in c]
    assert len(tests) == 1, "the quickstart must hold exactly one test command"
    assert tests[0] in _commands((ROOT / ".ci" / "run").read_text())
    assert re.search(r"torch==2\.13\.0", (ROOT / "constraints" / "ci.txt").read_text())
