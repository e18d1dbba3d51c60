"""AISShardMapDataset: random access into unmodified shards, from the cluster's archive listing;
the index saves and reloads; samples equal the streamed ones."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from _shared import FAST, load, tar_of
from torch.utils.data import RandomSampler

from aisloader.core.client import AsyncClient
from aisloader.core.listing.shard_index import ShardIndex, build_shard_index
from aisloader.core.listing.sources import ObjectList, sources
from aisloader.errors import ConfigError, ObjectNotFound
from aisloader.server import LocalCluster
from aisloader.torch import AISShardMapDataset, AISShardReader

from .util import Sample, gz, ids, put_regular, regular_shard


def _by_id(samples: list[Sample]) -> dict[tuple[str, str], Sample]:
    return {(s["__url__"], s["__key__"]): s for s in samples}


def test_map_samples_equal_streamed_samples(
    cluster: LocalCluster, bucket: str, tmp_path: Path
) -> None:
    put_regular(cluster, bucket, 3, 6)
    cluster.put_object(bucket, "train/shard-gz.tgz", gz(regular_shard(7, 4)))
    cluster.put_object(bucket, "train/notes.txt", b"not a shard")
    url = f"ais://{bucket}/train/"
    streamed = list(
        AISShardReader(url, endpoint=cluster.endpoint, config=FAST, sample_format="dict")
    )
    assert len(streamed) == 22
    dataset = AISShardMapDataset(url, endpoint=cluster.endpoint, config=FAST)
    assert len(dataset) == 22
    by_index = [dataset[i] for i in range(len(dataset))]
    assert _by_id(by_index) == _by_id(streamed)
    assert dataset.__getitems__([21, 0, 5, 5]) == [by_index[21], by_index[0], *[by_index[5]] * 2]
    with pytest.raises(IndexError):
        dataset[22]

    dataset.save_index(tmp_path / "idx")
    again = AISShardMapDataset(index=tmp_path / "idx", endpoint=cluster.endpoint, config=FAST)
    assert [again[i] for i in range(len(again))] == by_index
    revived = pickle.loads(pickle.dumps(dataset.index))
    assert [revived.sample(i) for i in range(22)] == [dataset.index.sample(i) for i in range(22)]


def test_use_batch_api_gives_the_same_samples(cluster: LocalCluster, bucket: str) -> None:
    put_regular(cluster, bucket, 2, 5)
    url = f"ais://{bucket}/train/"
    plain = AISShardMapDataset(url, endpoint=cluster.endpoint, config=FAST)
    batched = AISShardMapDataset(url, endpoint=cluster.endpoint, config=FAST, use_batch_api=True)
    order = [9, 0, 3, 3, 7]
    assert batched.__getitems__(order) == plain.__getitems__(order)
    before = cluster.stats()["proxy.GET"]
    batched.__getitems__(list(range(10)))  # 30 members
    assert cluster.stats()["proxy.GET"] - before == 1  # in one get-batch request


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork")])
def test_loader_with_random_sampler(
    cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    everything = put_regular(cluster, bucket, 4, 5)
    dataset = AISShardMapDataset(
        f"ais://{bucket}/train/", endpoint=cluster.endpoint, config=FAST, transform=_tag
    )
    got = load(dataset, workers, method, batch_size=3, sampler=RandomSampler(dataset))
    assert sorted(ids(got)) == sorted(everything)
    assert all(s["tagged"] for s in got)


def _tag(sample: Sample) -> Sample:
    return {**sample, "tagged": True}


async def test_index_groups_a_key_split_by_the_sorted_listing(
    cluster: LocalCluster, bucket: str, client: AsyncClient
) -> None:
    """The listing sorts ``k.a``, ``k.b/c.jpg``, ``k.c``: ``k``'s members are still one sample."""
    members = [("k.a", b"1"), ("k.c", b"2"), ("k.b/c.jpg", b"3"), ("z/y.x.jpg", b"4")]
    cluster.put_object(bucket, "s/one.tar", tar_of(members))
    index = await build_shard_index(client, sources(f"ais://{bucket}/s/"))
    got = {}
    for i in range(len(index)):
        key, refs = index.sample(i)
        got[key] = sorted((m.member, m.ext, m.size) for m in refs)
    assert got == {
        "k": [("k.a", "a", 1), ("k.c", "c", 1)],
        "k.b/c": [("k.b/c.jpg", "jpg", 1)],
        "z/y": [("z/y.x.jpg", "x.jpg", 1)],
    }


async def test_index_of_explicit_shards_and_meta_entries(
    cluster: LocalCluster, bucket: str, client: AsyncClient
) -> None:
    cluster.put_object(bucket, "e/a.tar", tar_of([("__meta__", b"m"), ("x.jpg", b"1")]))
    cluster.put_object(bucket, "e/a.tar.bak", tar_of([("y.jpg", b"2")]))
    cluster.put_object(bucket, "e/b.tar", tar_of([("noext", b"3"), ("y.jpg", b"4")]))
    index = await build_shard_index(client, sources(ObjectList(bucket, ["e/a.tar"])))
    assert [index.sample(i)[0] for i in range(len(index))] == ["x"]
    index = await build_shard_index(client, sources(f"ais://{bucket}/e/"))
    shards = [index.sample(i)[1][0].shard.name for i in range(len(index))]
    assert shards == ["e/a.tar", "e/b.tar"]
    with pytest.raises(ConfigError, match="no shard members"):
        await build_shard_index(client, sources(f"ais://{bucket}/nothing/"))


def test_missing_member_is_object_not_found(cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "m/a.tar", tar_of([("x.jpg", b"1")]))
    dataset = AISShardMapDataset(f"ais://{bucket}/m/", endpoint=cluster.endpoint, config=FAST)
    cluster.put_object(bucket, "m/a.tar", tar_of([("other.jpg", b"1")]))  # replaced after indexing
    with pytest.raises(ObjectNotFound):
        dataset[0]


def test_load_rejects_garbage(tmp_path: Path) -> None:
    (tmp_path / "idx").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not an aisloader shard index"):
        ShardIndex.load(tmp_path / "idx")


def test_two_members_with_one_extension_are_an_error(cluster: LocalCluster, bucket: str) -> None:
    from aisloader.errors import SampleError

    shard = tar_of([("a.jpg", b"lower"), ("a.JPG", b"upper"), ("b.jpg", b"fine")])
    cluster.put_object(bucket, "dup/s.tar", shard)
    with pytest.raises(SampleError, match=r"sample 'a' has two 'jpg' members"):
        AISShardMapDataset(f"ais://{bucket}/dup/", endpoint=cluster.endpoint, config=FAST)
