"""AISMultiShardStream: shard sets zipped member by member, like the official plugin, but
split across ranks × workers (each tuple exactly once)."""

from __future__ import annotations

import pytest
from _shared import FAST, load, tar_of
from aistore.pytorch import AISMultiShardStream as PluginStream
from aistore.sdk import DataShard

from aisloader.errors import ConfigError, ETLNotFound
from aisloader.server import LocalCluster
from aisloader.torch import AISMultiShardStream


def _put(cluster: LocalCluster, bucket: str, prefix: str, ext: str, shards: int, per: int) -> None:
    for s in range(shards):
        members = [(f"{k:03d}.{ext}", f"{prefix}{s}:{k}".encode()) for k in range(per)]
        cluster.put_object(bucket, f"{prefix}{s:02d}.tar", tar_of(reversed(members)))


def test_zip_equals_the_official_plugin(cluster: LocalCluster, bucket: str) -> None:
    _put(cluster, bucket, "img/", "jpg", 3, 4)
    _put(cluster, bucket, "lbl/", "cls", 2, 7)  # 14 members: the zip stops at the 12 images
    cluster.put_object(bucket, "lbl/readme.txt", b"not a shard")
    shards = [DataShard(cluster.endpoint, bucket, prefix=p) for p in ("img/", "lbl/")]
    theirs = list(PluginStream(shards))
    ours = AISMultiShardStream(shards, config=FAST)
    assert len(ours) == 12
    assert list(ours) == theirs
    assert theirs[0] == (b"img/0:0", b"lbl/0:0")  # members sorted by name in each shard
    urls = [f"ais://{bucket}/img/", f"ais://{bucket}/lbl/"]
    assert list(AISMultiShardStream(urls, endpoint=cluster.endpoint, config=FAST)) == theirs


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork")])
def test_split_across_ranks_and_workers(
    cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    _put(cluster, bucket, "a/", "x", 3, 5)
    _put(cluster, bucket, "b/", "y", 5, 3)
    urls = [f"ais://{bucket}/a/", f"ais://{bucket}/b/"]
    everything = list(AISMultiShardStream(urls, endpoint=cluster.endpoint, config=FAST))
    assert len(everything) == 15
    seen = []
    for rank in range(2):
        stream = AISMultiShardStream(
            urls, endpoint=cluster.endpoint, config=FAST, rank=rank, world_size=2
        )
        got = load(stream, workers, method, batch_size=2)
        if workers == 0:
            assert len(got) == len(stream)
        seen += got
    assert sorted(seen) == sorted(everything)


def test_bad_sources(cluster: LocalCluster, bucket: str) -> None:
    _put(cluster, bucket, "a/", "x", 1, 2)
    with pytest.raises(ConfigError):
        AISMultiShardStream([])
    empty = AISMultiShardStream(
        [f"ais://{bucket}/a/", f"ais://{bucket}/none/"], endpoint=cluster.endpoint, config=FAST
    )
    with pytest.raises(ConfigError, match="no shard members"):
        list(empty)


def test_data_shard_etl_is_applied_by_the_cluster(cluster: LocalCluster, bucket: str) -> None:
    _put(cluster, bucket, "a/", "x", 1, 2)
    before = cluster.stats()["etl.calls"]
    upper = DataShard(cluster.endpoint, bucket, prefix="a/", etl_name="upper")
    plain = DataShard(cluster.endpoint, bucket, prefix="a/")
    got = list(AISMultiShardStream([upper, plain], config=FAST))
    assert got == [(b"A/0:0", b"a/0:0"), (b"A/0:1", b"a/0:1")]
    assert cluster.stats()["etl.calls"] - before == 2  # one column went through the ETL
    missing = DataShard(cluster.endpoint, bucket, prefix="a/", etl_name="no-such-etl")
    with pytest.raises(ETLNotFound, match="no-such-etl") as info:
        list(AISMultiShardStream([missing], config=FAST))
    assert "no-such-etl" in str(info.value)
    assert f"ais://{bucket}/a/00.tar" in str(info.value)
