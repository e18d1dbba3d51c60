"""Fixtures of the torch dataset tests: a filled bucket (the cluster, the ``bucket`` fixture
and the forkserver preload come from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _shared import put_objects
from torchds_util import N

from aisloader.server import LocalCluster


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
