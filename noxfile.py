"""Developer sessions: ``nox -s tests lint typecheck bench``.

CI exports ``PIP_CONSTRAINT=constraints/ci.txt`` (torch pinned to the local CPU build, and
``aiohttp<3.14`` because aioresponses 0.7.9 breaks on 3.14). ``tests_newest_aiohttp`` runs the
suite on the newest aiohttp without aioresponses, under the torch-only constraint.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

HERE = Path(__file__).parent
CI_CONSTRAINTS = str(HERE / "constraints" / "ci.txt")
TORCH_ONLY = str(HERE / "constraints" / "torch.txt")

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite with the CI constraints."""
    env = {"PIP_CONSTRAINT": os.environ.get("PIP_CONSTRAINT", CI_CONSTRAINTS)}
    session.install("-e", ".[test]", env=env)
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def tests_newest_aiohttp(session: nox.Session) -> None:
    """The suite on the newest aiohttp, without aioresponses (its tests skip)."""
    env = {"PIP_CONSTRAINT": TORCH_ONLY}
    session.install("-e", ".[test]", env=env)
    session.run("python", "-m", "pip", "uninstall", "-y", "aioresponses")
    session.install("-U", "aiohttp", env=env)
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check + format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    env = {"PIP_CONSTRAINT": os.environ.get("PIP_CONSTRAINT", CI_CONSTRAINTS)}
    session.install("-e", ".[dev]", env=env)
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """The throughput benchmark on the embedded cluster (pass options after --)."""
    env = {"PIP_CONSTRAINT": TORCH_ONLY}
    session.install("-e", ".[bench]", env=env)
    session.run("python", "-m", "aisloader", "bench", *(session.posargs or ["--quick"]))
