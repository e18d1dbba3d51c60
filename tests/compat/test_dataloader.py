"""Scenario 4: the datasets under a DataLoader with 0 or 2 workers, started by ``fork`` and
``spawn``. Map-style output keeps the sampler's order; iterable output is compared as a
multiset (each object exactly once), since workers interleave."""

from __future__ import annotations

import hashlib
import os
from types import ModuleType

import pytest
from _shared import load
from aistore.sdk import Client

from aisloader.server import LocalCluster

from .subclasses import DigestIter, UpperItem, subclass
from .util import filled, put, put_shard

WORKERS = [(0, None), (2, "fork"), (2, "spawn")]
WORKER_IDS = ["in-process", "fork", "spawn"]


def _pids(workers: int, pids: set[int]) -> None:
    """Samples came from this process, or from ``workers`` other processes."""
    if workers == 0:
        assert pids == {os.getpid()}
    else:
        assert len(pids) == workers
        assert os.getpid() not in pids


@pytest.mark.parametrize(("workers", "method"), WORKERS, ids=WORKER_IDS)
def test_map_subclass(
    impl: ModuleType, cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    objects = put(cluster, bucket, [f"m/{i:02d}" for i in range(12)])
    dataset = subclass(impl, UpperItem)(Client(cluster.endpoint).bucket(bucket))

    got = load(dataset, workers, method, batch_size=3)

    assert [(name, data) for name, data, _ in got] == [(n, d.upper()) for n, d in objects.items()]
    _pids(workers, {pid for _, _, pid in got})


@pytest.mark.parametrize(("workers", "method"), WORKERS, ids=WORKER_IDS)
def test_iter_subclass(
    impl: ModuleType, cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    objects = put(cluster, bucket, [f"i/{i:02d}" for i in range(12)])
    dataset = subclass(impl, DigestIter)(Client(cluster.endpoint).bucket(bucket))

    got = load(dataset, workers, method, batch_size=2)

    expected = [(n, hashlib.md5(d, usedforsecurity=False).hexdigest()) for n, d in objects.items()]
    assert sorted((name, digest) for name, digest, _ in got) == expected
    _pids(workers, {pid for _, _, pid in got})


@pytest.mark.parametrize(("workers", "method"), WORKERS[:2], ids=WORKER_IDS[:2])
def test_iter_dataset(
    impl: ModuleType, cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    objects = put(cluster, bucket, [f"o/{i:02d}" for i in range(11)])
    dataset = impl.AISIterDataset(Client(cluster.endpoint).bucket(bucket))

    got = load(dataset, workers, method, batch_size=2)

    assert (got if workers == 0 else sorted(got)) == list(objects.items())


@pytest.mark.parametrize(("workers", "method"), WORKERS[:2], ids=WORKER_IDS[:2])
def test_shard_reader(
    impl: ModuleType, cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    for s in range(3):
        members = {f"s{s}-{k}.{ext}": f"{s}{k}{ext}".encode() for k in range(3) for ext in "ab"}
        put_shard(cluster, bucket, f"shard-{s}.tar", members)
    dataset = impl.AISShardReader(Client(cluster.endpoint).bucket(bucket))

    got = [(key, filled(sample)) for key, sample in load(dataset, workers, method, batch_size=2)]

    expected = [
        (f"s{s}-{k}", {ext: f"{s}{k}{ext}".encode() for ext in "ab"})
        for s in range(3)
        for k in range(3)
    ]
    assert (got if workers == 0 else sorted(got, key=lambda x: x[0])) == expected
