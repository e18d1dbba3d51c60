"""Fixtures: a cluster without get-batch (the cluster, bucket and client come from
``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aisloader.server import LocalCluster


@pytest.fixture(scope="session")
def no_batch_cluster() -> Iterator[LocalCluster]:
    """A cluster whose get-batch answers 501 (for the fallback)."""
    with LocalCluster(targets=2, get_batch=False) as c:
        yield c
