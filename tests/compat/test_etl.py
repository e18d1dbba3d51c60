"""Scenario 7: ``etl_name`` is applied by the cluster (``GET ?etl_name=``) and gives the same
bytes with both implementations: map, iterable, shard reader, multishard (``DataShard``)."""

from __future__ import annotations

from types import ModuleType

import pytest
from aistore.sdk import Client
from aistore.sdk.dataset.data_shard import DataShard

from aisloader.server import LocalCluster

from .util import iterate, md5_hex, put, put_shard


@pytest.mark.parametrize("etl", ["md5", "upper"])
def test_map_and_iter(impl: ModuleType, cluster: LocalCluster, bucket: str, etl: str) -> None:
    objects = put(cluster, bucket, [f"e/{i}" for i in range(4)])
    bck = Client(cluster.endpoint).bucket(bucket)
    transform = md5_hex if etl == "md5" else bytes.upper
    expected = [(name, transform(data)) for name, data in objects.items()]
    before = cluster.stats()["etl.calls"]

    mapped = impl.AISMapDataset(bck, etl_name=etl)

    assert [mapped[i] for i in range(len(mapped))] == expected
    assert iterate(impl.AISIterDataset(bck, etl_name=etl)) == expected
    assert cluster.stats()["etl.calls"] - before == 8


def test_shard_reader(impl: ModuleType, cluster: LocalCluster, bucket: str, tar_upper: str) -> None:
    put_shard(cluster, bucket, "0.tar", {"a.txt": b"alpha", "a.cls": b"x", "b.txt": b"beta"})
    before = cluster.stats()["etl.calls"]

    reader = impl.AISShardReader(Client(cluster.endpoint).bucket(bucket), etl_name=tar_upper)

    assert iterate(reader) == [
        ("a", {"txt": b"ALPHA", "cls": b"X"}),
        ("b", {"txt": b"BETA", "cls": b""}),
    ]
    assert cluster.stats()["etl.calls"] - before == 1  # the whole shard, once


def test_multishard_data_shard_etl(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    put_shard(cluster, bucket, "t/0.tar", {"a.txt": b"one", "b.txt": b"two"})
    put_shard(cluster, bucket, "c/0.tar", {"a.cls": b"uno", "b.cls": b"dos"})
    shards = [
        DataShard(client_url=cluster.endpoint, bucket_name=bucket, prefix="t/", etl_name="upper"),
        DataShard(client_url=cluster.endpoint, bucket_name=bucket, prefix="c/"),
    ]
    before = cluster.stats()["etl.calls"]

    got = iterate(impl.AISMultiShardStream(shards))

    assert got == [(b"ONE", b"uno"), (b"TWO", b"dos")]
    assert cluster.stats()["etl.calls"] - before == 2  # one per member of the first stream
