"""Every example runs to completion on an embedded cluster (smoke)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted(
    p
    for p in (Path(__file__).resolve().parent.parent / "examples").glob("*.py")
    if not p.name.startswith("_")
)


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AIS_ENDPOINT"}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=script.parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "started an embedded AIS cluster" in done.stdout
