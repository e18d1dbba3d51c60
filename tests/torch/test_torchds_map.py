"""AISMapDataset: exactly once under every start method and sampler, one bridge hop per batch
with its GETs concurrent, sources of every kind (for both datasets), progress bars, bad input at
construction (typed errors from workers: ``test_torchds_iter.py``)."""

from __future__ import annotations

import hashlib
import io
import os
import sys
from collections import Counter
from typing import Any

import pytest
import torch
from _shared import FAST, Overlap, blob, data_loader, load, put_objects
from aistore.sdk import Client as SdkClient
from aistore.sdk.errors import ErrETLNotFound
from torch.utils.data import BatchSampler, DistributedSampler, RandomSampler
from torchds_util import N, assert_exactly_once, count_lists, stamp

from aisloader.bridge import runtime
from aisloader.errors import BucketNotFound, ConfigError, ETLNotFound
from aisloader.refs import Bucket
from aisloader.server import LocalCluster
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
    put_objects(cluster, "tds2", 10, "p/")
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
    # The 12 GETs of one batch are open at the proxy together: concurrent, not in turn.
    with Overlap(cluster.endpoint, "/v1/objects/", release_at=12, hold=5.0) as proxy:
        names = ObjectList("tds", sorted(objects)[:12])
        proxied = FAST.replace(direct_reads=False)  # every GET through the counting proxy
        through = AISMapDataset(names, endpoint=proxy.endpoint, config=proxied)
        batch = through.__getitems__(list(range(12)))
    assert [name for name, _ in batch] == sorted(objects)[:12]
    assert (proxy.served, proxy.peak) == (12, 12)


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
    loader = data_loader(dataset, 2, batch_sampler=sampler)
    batches = list(loader)
    assert len(loader) == len(sampler) == len(batches) < N  # counts batches, not samples
    assert all(sum(len(d) for _, d in b) <= limit for b in batches)
    assert_exactly_once([s for b in batches for s in b], objects)
    assert list(sampler) == list(DynamicBatchSampler(dataset, limit, shuffle=True, seed=2))
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    with pytest.raises(ConfigError, match=r"ais://tds/o/\d+ is \d+ bytes"):
        list(DynamicBatchSampler(dataset, max_batch_size=730, strict=True))
    small = {n for n, v in objects.items() if len(v) <= 730}
    assert 0 < len(small) < N
    kept = [dataset.manifest.name(i) for b in DynamicBatchSampler(dataset, 730) for i in b]
    assert sorted(kept) == sorted(small)  # the plugin's default: oversized skipped, warned
    alone = list(DynamicBatchSampler(dataset, max_batch_size=730, allow_oversized_samples=True))
    assert all(len(b) == 1 for b in alone if len(objects[dataset.manifest.name(b[0])]) > 730)
    assert sum(len(b) for b in alone) == N
    named = _map(ObjectList("tds", ["o/00001", "o/00002"]), cluster)  # no sizes: HEADed
    limit = len(objects["o/00001"]) + len(objects["o/00002"])
    assert list(DynamicBatchSampler(named, max_batch_size=limit)) == [[0, 1]]


def test_show_progress_only_on_a_terminal(
    cluster: LocalCluster,
    objects: dict[str, bytes],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert len(_map("ais://tds/o/", cluster, show_progress=True)) == N
    assert "listing" not in capfd.readouterr().err  # stderr is not a terminal here
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert len(_map("ais://tds/o/", cluster, show_progress=True)) == N
    assert "listing" in terminal.getvalue()
    assert f"{N}obj" in terminal.getvalue().replace(" ", "")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


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


@pytest.mark.parametrize("use_batch_api", [False, True])
def test_etl_name_is_applied_by_the_cluster(
    cluster: LocalCluster, objects: dict[str, bytes], use_batch_api: bool
) -> None:
    dataset = _map("ais://tds/o/", cluster, etl_name="md5", use_batch_api=use_batch_api)
    want = {name: hashlib.md5(data).hexdigest().encode() for name, data in objects.items()}
    before = cluster.stats()["etl.calls"]
    assert dict(dataset[i] for i in range(3)) == {n: want[n] for n in sorted(objects)[:3]}
    assert dict(dataset.__getitems__(list(range(3, 9)))) == {
        n: want[n] for n in sorted(objects)[3:9]
    }
    assert cluster.stats()["etl.calls"] - before == 9  # never untransformed bytes
    assert dataset.get_obj_list()[0].get_reader().read_all() == want["o/00000"]


def test_unknown_etl_names_the_etl_and_the_object(
    cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    dataset = _map("ais://tds/o/", cluster, etl_name="no-such-etl")
    with pytest.raises(ETLNotFound, match="no-such-etl") as info:
        dataset[0]
    assert "ais://tds/o/00000" in str(info.value)
    assert isinstance(info.value, ErrETLNotFound)  # the SDK's except clauses catch it too
