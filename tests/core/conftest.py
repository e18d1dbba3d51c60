"""Fixtures: one embedded cluster for the whole session, per-test buckets, fake servers."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from aisloader.config import ClientConfig
from aisloader.core.client import AsyncClient
from aisloader.server import LocalCluster

_names = itertools.count()

FAST = ClientConfig(backoff_base=0.002, backoff_cap=0.02, retry_budget=30.0, read_timeout=10.0)
"""Default retry attempts, but short backoffs so fault storms stay fast."""


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """One embedded cluster (proxy + 2 targets) for every test of this directory."""
    with LocalCluster(targets=2) as c:
        yield c


@pytest.fixture
def bucket(cluster: LocalCluster) -> Iterator[str]:
    """A fresh bucket name (created); faults are cleared after the test."""
    name = f"core-{next(_names)}"
    cluster.create_bucket(name)
    yield name
    cluster.clear_faults()


@pytest.fixture
async def client(cluster: LocalCluster) -> AsyncIterator[AsyncClient]:
    """An AsyncClient on the session cluster with fast backoffs."""
    async with AsyncClient(cluster.endpoint, config=FAST) as c:
        yield c


@asynccontextmanager
async def fake_server(routes: list[web.RouteDef]) -> AsyncIterator[str]:
    """A throwaway aiohttp server on loopback (for error shapes the cluster cannot produce)."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
