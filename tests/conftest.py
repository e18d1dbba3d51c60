"""Fixtures shared by the test packages: one embedded cluster, fresh buckets, a fast client.

One cluster serves the whole run. A root fixture cannot be one per package: pytest ties a
``package`` scope to the package that defines the fixture, and ``tests/`` is not one (nor may
``tests/torch`` be: it would shadow PyTorch), so it would be one per session anyway. Tests stay
independent all the same: a test gets a fresh bucket and its faults are cleared after it, and
request counters are only ever compared before and after (``tests/server`` has its own
clusters).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from _shared import FAST

from aisloader.core.client import AsyncClient
from aisloader.server import LocalCluster

_names = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _forkserver_preload() -> None:
    """Forkserver children start from a server that imported torch and aisloader once (when
    this session starts the forkserver): the start method is still tested, without those
    imports in each child (seconds each on 2 cores). The server finds the test helpers through
    ``PYTHONPATH``: Python 3.11's forkserver ignores the ``sys.path`` it is sent, so a preload
    of a test module would fail silently."""
    here = Path(__file__).parent
    old = os.environ.get("PYTHONPATH")
    paths = [str(here), str(here / "torch"), *([old] if old else [])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        ["torch", "aisloader.torch", "_shared", "torchds_util"]
    )


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """One embedded cluster (proxy + 2 targets) for every test of the run."""
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
    """An AsyncClient on the cluster with fast backoffs."""
    async with AsyncClient(cluster.endpoint, config=FAST) as c:
        yield c
