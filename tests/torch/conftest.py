"""Fixtures of the torch dataset tests: the forkserver preload and a filled bucket (the
cluster and the ``bucket`` fixture come from ``tests/conftest.py``)."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _shared import put_objects
from torchds_util import N

from aisloader.server import LocalCluster


@pytest.fixture(scope="session", autouse=True)
def _forkserver_preload() -> None:
    """Forkserver children start from a server that imported torch and aisloader once (when
    this session starts the forkserver): the start method is still tested, without those
    imports in each child. The server finds the test helpers through ``PYTHONPATH`` (Python
    3.11's forkserver ignores the ``sys.path`` it is sent, so a preload of a test module
    would fail silently)."""
    paths = [p for p in sys.path if p.startswith(str(Path(__file__).parents[1]))]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([*paths, *([old] if old else [])])
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        ["torch", "aisloader.torch", "torchds_util"]
    )


@pytest.fixture(scope="session")
def objects(cluster: LocalCluster) -> dict[str, bytes]:
    """``N`` objects under ``ais://tds/o/`` (+ a decoy outside the prefix); name → bytes."""
    out = put_objects(cluster, "tds", N)
    cluster.put_object("tds", "other/decoy", b"not under o/")
    return out


@pytest.fixture(autouse=True)
def _no_faults(cluster: LocalCluster) -> Iterator[None]:
    """Faults end with the test, also for tests that install them without a ``bucket``."""
    yield
    cluster.clear_faults()
