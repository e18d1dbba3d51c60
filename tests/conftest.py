"""Fixtures shared by the test packages: one embedded cluster per package (so faults and
request counters of one package never leak into another's), fresh buckets, a fast client."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import pytest
from _shared import FAST

from aisloader.core.client import AsyncClient
from aisloader.server import LocalCluster

_names = itertools.count()


@pytest.fixture(scope="package")
def cluster() -> Iterator[LocalCluster]:
    """One embedded cluster (proxy + 2 targets) for every test of a package."""
    with LocalCluster(targets=2) as c:
        yield c


@pytest.fixture
def bucket(cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh bucket (created); faults are cleared after the test."""
    package = request.path.parent.name
    name = f"{package}-{next(_names)}"
    cluster.create_bucket(name)
    yield name
    cluster.clear_faults()


@pytest.fixture
async def client(cluster: LocalCluster) -> AsyncIterator[AsyncClient]:
    """An AsyncClient on the package's cluster with fast backoffs."""
    async with AsyncClient(cluster.endpoint, config=FAST) as c:
        yield c
