"""Fixtures: a real embedded cluster on loopback (sync for the SDK, async for raw aiohttp)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from aisloader.server import LocalCluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """One cluster per module, run from its own loop thread (the SDK is blocking)."""
    with LocalCluster(targets=3) as c:
        yield c


@pytest.fixture
async def acluster() -> AsyncIterator[LocalCluster]:
    """A fresh cluster in the test's own event loop."""
    async with LocalCluster() as c:
        yield c


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session; redirects are followed only where a test asks for it."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture(scope="module")
def mc(cluster: LocalCluster) -> Iterator[LocalCluster]:
    """The module's cluster holding the get-batch fixtures' objects and shards."""
    from .batchutil import populate

    populate(cluster)
    yield cluster
    cluster.clear_faults()


@pytest.fixture
def s(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """The session under the short name the get-batch tests use."""
    return session
