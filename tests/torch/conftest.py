"""Fixtures of the torch dataset tests: the forkserver preload and a filled bucket (the
cluster and the ``bucket`` fixture come from ``tests/conftest.py``)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator

import pytest
from _shared import put_objects
from torchds_util import N

from aisloader.server import LocalCluster


@pytest.fixture(scope="session", autouse=True)
def _forkserver_preload() -> None:
    """Forkserver children start from a server that imported torch once (when this session
    starts the forkserver): the start method is still tested, without a torch import each."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(["torch", "torchds_util"])


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
