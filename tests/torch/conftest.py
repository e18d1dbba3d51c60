"""Fixtures: one embedded cluster for the torch dataset tests, with a filled bucket."""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterator

import pytest
from torchds_util import N, fill

from aisloader.server import LocalCluster

_names = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _forkserver_preload() -> None:
    """Forkserver children start from a server that imported torch once (when this session
    starts the forkserver): the start method is still tested, without a torch import each."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(["torch", "torchds_util"])


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """One embedded cluster (proxy + 2 targets) for every test of this directory."""
    with LocalCluster(targets=2) as c:
        yield c


@pytest.fixture(scope="session")
def objects(cluster: LocalCluster) -> dict[str, bytes]:
    """``N`` objects under ``ais://tds/o/`` (+ a decoy outside the prefix); name → bytes."""
    out = fill(cluster, "tds", N)
    cluster.put_object("tds", "other/decoy", b"not under o/")
    return out


@pytest.fixture
def bucket(cluster: LocalCluster) -> Iterator[str]:
    """A fresh, empty bucket (created); faults are cleared after the test."""
    name = f"tds-{next(_names)}"
    cluster.create_bucket(name)
    yield name
    cluster.clear_faults()


@pytest.fixture(autouse=True)
def _no_faults(cluster: LocalCluster) -> Iterator[None]:
    yield
    cluster.clear_faults()
