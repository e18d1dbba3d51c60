"""The documented, intended differences from the plugin (README, "Migrating"): one test each,
asserting aisloader's documented behaviour (and showing the plugin's, which it replaces)."""

from __future__ import annotations

from collections import Counter

import aistore.pytorch as plugin
import pytest
from _shared import load
from aistore.pytorch.batch_iter_dataset import AISBatchIterDataset as PluginBatchIter
from aistore.sdk import Client
from aistore.sdk.dataset.data_shard import DataShard
from aistore.sdk.errors import ErrObjNotFound

import aisloader.torch as ours
from aisloader.errors import ConfigError, ObjectNotFound
from aisloader.server import LocalCluster
from aisloader.torch.batch_iter_dataset import AISBatchIterDataset as OursBatchIter

from .util import deleted_while_batched, filled, iterate, put, put_shard


def test_difference_iterables_split_exactly_once_across_ranks_and_workers(
    cluster: LocalCluster, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ranks (``RANK``/``WORLD_SIZE``, as torchrun sets them): aisloader's ranks read
    disjoint halves; each of the plugin's ranks reads everything. Under 2 DataLoader workers
    the plugin's multishard stream reads every tuple once per worker; aisloader's once."""
    objects = put(cluster, bucket, [f"r/{i}" for i in range(7)])
    bck = Client(cluster.endpoint).bucket(bucket)
    monkeypatch.setenv("WORLD_SIZE", "2")
    per_rank: dict[str, list[list[str]]] = {"plugin": [], "ours": []}
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        per_rank["plugin"].append([n for n, _ in iterate(plugin.AISIterDataset(bck))])
        per_rank["ours"].append([n for n, _ in iterate(ours.AISIterDataset(bck))])

    assert sorted(per_rank["ours"][0] + per_rank["ours"][1]) == list(objects)
    assert not set(per_rank["ours"][0]) & set(per_rank["ours"][1])
    assert per_rank["plugin"] == [list(objects), list(objects)]

    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    put_shard(cluster, bucket, "t/0.tar", {f"{k}.x": k.encode() for k in "abcd"})
    shards = [DataShard(client_url=cluster.endpoint, bucket_name=bucket, prefix="t/")]
    theirs = load(plugin.AISMultiShardStream(shards), 2, "fork", batch_size=1)
    mine = load(ours.AISMultiShardStream(shards), 2, "fork", batch_size=1)
    assert Counter(mine) == Counter((k.encode(),) for k in "abcd")
    assert Counter(theirs) == Counter((k.encode(),) for k in "abcd" for _ in range(2))


def test_difference_sampler_len_counts_batches_and_shuffle_is_seeded(
    cluster: LocalCluster, bucket: str
) -> None:
    for i in range(10):
        cluster.put_object(bucket, f"s{i}", b"x" * 30)
    bck = Client(cluster.endpoint).bucket(bucket)

    theirs = plugin.DynamicBatchSampler(plugin.AISMapDataset(bck), max_batch_size=100)
    mine_ds = ours.AISMapDataset(bck)
    mine = ours.DynamicBatchSampler(mine_ds, max_batch_size=100)

    assert list(iter(mine)) == list(iter(theirs)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert len(theirs) == 10  # samples
    assert len(mine) == 4  # batches: what len(DataLoader) needs
    one = ours.DynamicBatchSampler(mine_ds, max_batch_size=100, shuffle=True, seed=3)
    same = ours.DynamicBatchSampler(mine_ds, max_batch_size=100, shuffle=True, seed=3)
    assert list(iter(one)) == list(iter(same))
    first = list(iter(one))
    one.set_epoch(1)
    assert list(iter(one)) != first
    assert sorted(i for batch in first for i in batch) == list(range(10))


def test_difference_shard_keys_keep_directories_and_multi_dot_extensions(
    cluster: LocalCluster, bucket: str
) -> None:
    """Samples are grouped by WebDataset keys (directories kept: ``d1/x`` and ``d2/x`` are two
    samples, yielded under their basename in the plugin's form); ``a.seg.png`` is ``seg.png``."""
    members = {"d1/x.jpg": b"J", "d2/x.cls": b"C", "a.seg.png": b"P", "a.cls": b"A"}
    put_shard(cluster, bucket, "0.tar", members)
    bck = Client(cluster.endpoint).bucket(bucket)

    theirs = [(k, filled(s)) for k, s in iterate(plugin.AISShardReader(bck))]
    mine = [(k, filled(s)) for k, s in iterate(ours.AISShardReader(bck))]

    assert theirs == [("x", {"jpg": b"J", "cls": b"C"}), ("a", {"png": b"P", "cls": b"A"})]
    assert mine == [
        ("x", {"jpg": b"J"}),
        ("x", {"cls": b"C"}),
        ("a", {"seg.png": b"P", "cls": b"A"}),
    ]
    as_dicts = iterate(ours.AISShardReader(bck, sample_format="dict"))
    assert [sample["__key__"] for sample in as_dicts] == ["d1/x", "d2/x", "a"]


def test_difference_nothing_matched_raises_config_error(cluster: LocalCluster, bucket: str) -> None:
    put(cluster, bucket, ["a/0"])
    bck = Client(cluster.endpoint).bucket(bucket)
    nothing = {bck: "none/"}

    assert len(plugin.AISMapDataset(bck, prefix_map=nothing)) == 0
    assert iterate(plugin.AISIterDataset(bck, prefix_map=nothing)) == []
    with pytest.raises(ConfigError):
        ours.AISMapDataset(bck, prefix_map=nothing)
    with pytest.raises(ConfigError, match=f"ais://{bucket}"):
        iterate(ours.AISIterDataset(bck, prefix_map=nothing))
    with pytest.raises(ConfigError, match=f"ais://{bucket}"):
        iterate(ours.AISShardReader(bck, prefix_map=nothing))


def test_difference_shard_reader_len_counts_samples(cluster: LocalCluster, bucket: str) -> None:
    put_shard(cluster, bucket, "0.tar", {"a.x": b"1", "a.y": b"2", "b.x": b"3"})
    put_shard(cluster, bucket, "1.tar", {"c.x": b"4"})
    bck = Client(cluster.endpoint).bucket(bucket)

    assert len(ours.AISShardReader(bck)) == 3
    with pytest.raises(AttributeError):  # the plugin's counts member files: 'Object' has no bucket
        len(plugin.AISShardReader(bck))


def test_difference_batch_missing_object_raises_typed_not_found(
    cluster: LocalCluster, bucket: str
) -> None:
    """A listed object gone by the time its batch is read (deleted while the get-batch
    request is held): aisloader raises ``ObjectNotFound`` (also ``ErrObjNotFound``) naming it;
    the plugin fails with whatever the transport saw."""
    client = Client(cluster.endpoint)
    errors: list[BaseException] = []
    for cls in (PluginBatchIter, OursBatchIter):
        put(cluster, bucket, ["g/0", "g/1", "g/2"])
        dataset = cls(client.bucket(bucket), client, max_batch_size=3)
        with (
            deleted_while_batched(cluster, client, bucket, "g/1"),
            pytest.raises(Exception) as info,  # noqa: PT011 - the plugin's type varies
        ):
            iterate(dataset)
        errors.append(info.value)

    theirs, mine = errors
    assert not isinstance(theirs, ErrObjNotFound)
    assert isinstance(mine, ObjectNotFound)
    assert isinstance(mine, ErrObjNotFound)
    assert f"ais://{bucket}/g/1" in str(mine)


def test_difference_sources_of_two_clusters(cluster: LocalCluster, bucket: str) -> None:
    """Not in the README's list: each SDK source of the plugin reads its own cluster, so one
    dataset may span two; aisloader has one connection per dataset and refuses, naming both."""
    objects = put(cluster, bucket, ["one"])
    with LocalCluster(targets=1) as other:
        other.put_object(bucket, "two", b"2")
        sources = [Client(cluster.endpoint).bucket(bucket), Client(other.endpoint).bucket(bucket)]

        theirs = plugin.AISMapDataset(sources)
        assert [theirs[i] for i in range(len(theirs))] == [("one", objects["one"]), ("two", b"2")]
        with pytest.raises(ConfigError, match="two clusters") as info:
            ours.AISMapDataset(sources)

    assert cluster.endpoint in str(info.value)
    assert other.endpoint in str(info.value)
