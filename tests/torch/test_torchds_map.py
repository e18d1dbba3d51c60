"""AISMapDataset: exactly once under every start method and sampler, one bridge hop per batch,
sources of every kind (for both datasets), progress bars, typed errors from workers, bad input
at construction."""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import pytest
import torch
from aistore.sdk import Client as SdkClient
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler
from torchds_util import (
    FAST,
    N,
    assert_exactly_once,
    blob,
    count_lists,
    fill,
    keep,
    load,
    load_error,
    stamp,
)

from aisloader import runtime
from aisloader.client import Client
from aisloader.errors import BucketNotFound, ConfigError, ObjectNotFound
from aisloader.refs import Bucket
from aisloader.server import Fault, LocalCluster
from aisloader.torch import AISIterDataset, AISMapDataset, DynamicBatchSampler, ObjectList

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

MATRIX = [(0, None)] + [(w, m) for m in ("fork", "spawn", "forkserver") for w in (2, 3)]


def _map(source: Any, cluster: LocalCluster, **kw: Any) -> AISMapDataset:
    return AISMapDataset(source, endpoint=cluster.endpoint, config=FAST, **kw)


@pytest.mark.parametrize(("workers", "method"), MATRIX)
def test_each_object_once_and_transform_in_consumer(
    cluster: LocalCluster, objects: dict[str, bytes], workers: int, method: str | None
) -> None:
    lists = count_lists(cluster)
    dataset = _map("ais://tds/o/", cluster, transform=stamp)
    assert len(dataset) == N
    assert dataset[0][0] == "o/00000"  # starts this process's loop thread before workers fork
    generator = torch.Generator().manual_seed(1)
    samples = load(dataset, workers, method, shuffle=True, generator=generator)
    assert_exactly_once(samples, objects)
    assert lists() == 1  # listed once, at construction; workers never list
    assert [name for name, _ in samples] != sorted(objects)  # the RandomSampler order
    places = {(thread, pid) for _, (_, thread, pid) in samples}
    assert {thread for thread, _ in places} == {"MainThread"}  # never the loop thread
    pids = {pid for _, pid in places}
    assert (os.getpid() in pids) == (workers == 0)
    assert len(pids) == max(workers, 1)


def _sources(cluster: LocalCluster) -> dict[str, tuple[Any, Any, list[str]]]:
    """Source kind → (sources, prefix_map, expected names)."""
    sdk = SdkClient(cluster.endpoint).bucket("tds")
    o = [f"o/{i:05d}" for i in range(N)]
    p = [f"p/{i:05d}" for i in range(10)]
    return {
        "url": ("ais://tds/o/0001", None, o[10:20]),
        "bucket+prefix_map": (Bucket("tds"), {Bucket("tds"): "o/"}, o),
        "prefix_list": ("ais://tds", {"ais://tds": ["o/0001", "o/0002"]}, o[10:30]),
        "several_buckets": (["ais://tds/o/0000", Bucket("tds2")], None, o[:10] + p),
        "object_list": (ObjectList("tds", o[5:8]), None, o[5:8]),
        "sdk_bucket": (sdk, {sdk: "o/"}, o),
        "sdk_object_group": (sdk.objects(obj_names=o[3:6]), None, o[3:6]),
        "urls": (["ais://tds/o/00001", "ais://tds2/p/00009"], None, [o[1], p[9]]),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "url",
        "bucket+prefix_map",
        "prefix_list",
        "several_buckets",
        "object_list",
        "sdk_bucket",
        "sdk_object_group",
        "urls",
    ],
)
@pytest.mark.parametrize("cls", [AISMapDataset, AISIterDataset])
def test_source_kinds(
    cluster: LocalCluster, objects: dict[str, bytes], kind: str, cls: type[Any]
) -> None:
    fill(cluster, "tds2", 10, "p/")
    source, prefix_map, names = _sources(cluster)[kind]
    dataset = cls(source, prefix_map=prefix_map, endpoint=cluster.endpoint, config=FAST)
    samples = list(dataset) if cls is AISIterDataset else [dataset[i] for i in range(len(dataset))]
    assert sorted(name for name, _ in samples) == sorted(names)
    assert all(data == blob(int(name[-5:])) for name, data in samples)


def test_getitem_is_one_get(cluster: LocalCluster, objects: dict[str, bytes]) -> None:
    dataset = _map("ais://tds/o/", cluster)
    before = cluster.stats().get("target.GET", 0)
    assert dataset[17] == ("o/00017", objects["o/00017"])
    assert cluster.stats()["target.GET"] - before == 1


def test_getitems_is_one_bridge_hop_with_concurrent_gets(
    cluster: LocalCluster, objects: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = _map("ais://tds/o/", cluster)
    hops = Counter[str]()
    real_call = runtime.call

    def counting_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops["call"] += 1
        return real_call(fn, *args, **kwargs)

    monkeypatch.setattr(runtime, "call", counting_call)
    before = cluster.stats().get("target.GET", 0)
    samples = load(dataset, batch_size=12)
    assert_exactly_once(samples, objects)
    assert hops["call"] == N // 12  # one hop per batch
    assert cluster.stats()["target.GET"] - before == N  # one GET per object, no more
    # 12 GETs that each take 0.3 s at the target finish together: concurrent, not in turn.
    cluster.set_faults([Fault("latency", every=1, delay=0.3, hop="target")])
    started = time.monotonic()
    batch = dataset.__getitems__(list(range(12)))
    elapsed = time.monotonic() - started
    assert [name for name, _ in batch] == sorted(objects)[:12]
    assert elapsed < 1.5, f"12 GETs of 0.3 s took {elapsed:.2f} s: not concurrent"


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork")])
def test_samplers(
    cluster: LocalCluster, objects: dict[str, bytes], workers: int, method: str | None
) -> None:
    dataset = _map("ais://tds/o/", cluster)
    rs = RandomSampler(dataset, generator=torch.Generator().manual_seed(3))
    assert_exactly_once(load(dataset, workers, method, sampler=rs), objects)
    bs = BatchSampler(RandomSampler(dataset), batch_size=9, drop_last=False)
    assert_exactly_once(load(dataset, workers, method, batch_sampler=bs), objects)
    ranks = []
    for rank in range(2):  # two simulated ranks
        ds = DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=4)
        ds.set_epoch(1)
        ranks.append(load(dataset, workers, method, sampler=ds))
    assert len(ranks[0]) == len(ranks[1]) == N // 2
    assert_exactly_once(ranks[0] + ranks[1], objects)


def test_dynamic_batch_sampler(cluster: LocalCluster, objects: dict[str, bytes]) -> None:
    dataset = _map("ais://tds/o/", cluster)
    limit = 3000
    sampler = DynamicBatchSampler(dataset, max_batch_size=limit, shuffle=True, seed=2)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=keep, num_workers=2)
    batches = list(loader)
    assert len(loader) == len(sampler) == len(batches) < N  # counts batches, not samples
    assert all(sum(len(d) for _, d in b) <= limit for b in batches)
    assert_exactly_once([s for b in batches for s in b], objects)
    assert list(sampler) == list(DynamicBatchSampler(dataset, limit, shuffle=True, seed=2))
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    with pytest.raises(ConfigError, match=r"ais://tds/o/\d+ is \d+ bytes"):
        list(DynamicBatchSampler(dataset, max_batch_size=500))
    alone = list(DynamicBatchSampler(dataset, max_batch_size=500, allow_oversized_samples=True))
    assert all(len(b) == 1 for b in alone if len(objects[dataset.manifest.name(b[0])]) > 500)
    with pytest.raises(ConfigError, match="needs object sizes"):
        DynamicBatchSampler(_map(ObjectList("tds", ["o/00001"]), cluster), max_batch_size=10)


def test_show_progress(
    cluster: LocalCluster, objects: dict[str, bytes], capfd: pytest.CaptureFixture[str]
) -> None:
    dataset = _map("ais://tds/o/", cluster, show_progress=True)
    assert len(dataset) == N
    err = capfd.readouterr().err
    assert "listing" in err
    assert f"{N}obj" in err.replace(" ", "")


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork"), (2, "spawn")])
def test_deleted_object_reaches_the_loop_typed(
    cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    fill(cluster, bucket, 12)
    dataset = _map(f"ais://{bucket}", cluster)  # listed now
    with Client(cluster.endpoint, config=FAST) as client:
        client.delete((bucket, "o/00005"))
    error = load_error(dataset, workers, method)
    assert isinstance(error, ObjectNotFound)
    assert f"ais://{bucket}/o/00005" in str(error)


@pytest.mark.parametrize(
    ("source", "error", "match"),
    [
        (None, ConfigError, "empty source list"),
        ([], ConfigError, "empty source list"),
        ("ais://tds/nothing-here/", ConfigError, "no objects match ais://tds/nothing-here/"),
        ("ais://no-such-bucket", BucketNotFound, "no-such-bucket"),
        ("s3:/broken", ConfigError, "s3:/broken"),
        ("ais://", ConfigError, "ais://"),
        ("http://example.com/x", ConfigError, "http://example.com/x"),
        (ObjectList("tds", []), ConfigError, "holds no names"),
        (42, ConfigError, "unsupported source 42"),
    ],
)
def test_bad_input_fails_at_construction(
    cluster: LocalCluster,
    objects: dict[str, bytes],
    source: Any,
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        _map(source, cluster)


def test_etl_name_is_refused(cluster: LocalCluster) -> None:
    with pytest.raises(ConfigError, match="etl_name"):
        AISMapDataset("ais://tds", etl_name="x", endpoint=cluster.endpoint)
