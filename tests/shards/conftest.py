"""Fixtures: one embedded cluster for the shard tests, per-test buckets, a fast client."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import pytest

from aisloader.core.client import AsyncClient
from aisloader.server import LocalCluster

from .util import FAST

_names = itertools.count()


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """One embedded cluster (proxy + 2 targets) for every test of this directory."""
    with LocalCluster(targets=2) as c:
        yield c


@pytest.fixture
def bucket(cluster: LocalCluster) -> Iterator[str]:
    """A fresh bucket name (created); faults are cleared after the test."""
    name = f"shards-{next(_names)}"
    cluster.create_bucket(name)
    yield name
    cluster.clear_faults()


@pytest.fixture
async def client(cluster: LocalCluster) -> AsyncIterator[AsyncClient]:
    """An AsyncClient on the session cluster with fast backoffs."""
    async with AsyncClient(cluster.endpoint, config=FAST) as c:
        yield c
