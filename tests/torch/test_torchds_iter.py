"""AISIterDataset: exactly once across ranks × workers × start methods with one listing per
node, listing streamed into the fetch window, seeded shuffle per epoch, persistent workers,
early break with nothing left behind, typed errors and bad input (early break and a deleted
object also for AISMapDataset)."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import sys
import threading
from typing import Any

import pytest
from _shared import FAST, data_loader, load, put_objects
from torchds_util import (
    N,
    assert_exactly_once,
    count_lists,
    lists_served,
    load_error,
    stamp,
)

from aisloader.bridge import runtime
from aisloader.bridge.client import Client
from aisloader.errors import BucketNotFound, ConfigError, ObjectNotFound
from aisloader.server import Fault, LocalCluster
from aisloader.torch import AISBaseIterDataset, AISIterDataset, AISMapDataset

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

MATRIX = [(0, None), (2, "spawn")] + [(w, m) for m in ("fork", "forkserver") for w in (2, 3)]
BOTH = [
    *((AISIterDataset, w, m) for w, m in [(0, None), (2, "fork"), (2, "forkserver")]),
    *((AISMapDataset, w, m) for w, m in [(0, None), (2, "fork"), (2, "forkserver")]),
]
"""Both object datasets, each in process and under two start methods (spawn: the MATRIX and
``test_torchds_map``; forkserver pickles the dataset as spawn does, without a torch import per
worker)."""


def _iter(source: Any, cluster: LocalCluster, **kw: Any) -> AISIterDataset:
    kw.setdefault("config", FAST)
    return AISIterDataset(source, endpoint=cluster.endpoint, **kw)


@pytest.mark.parametrize(("workers", "method"), MATRIX)
def test_each_object_once_one_listing(
    cluster: LocalCluster, objects: dict[str, bytes], workers: int, method: str | None
) -> None:
    lists = count_lists(cluster)
    dataset = _iter("ais://tds/o/", cluster, transform=stamp)
    samples = load(dataset, workers, method)
    assert_exactly_once(samples, objects)
    assert lists() == 1  # one listing for all workers, not one each
    places = {(thread, pid) for _, (_, thread, pid) in samples}
    assert {thread for thread, _ in places} == {"MainThread"}  # never the loop thread
    pids = {pid for _, pid in places}
    assert (os.getpid() in pids) == (workers == 0)
    assert len(pids) == max(workers, 1)


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork"), (3, "forkserver")])
def test_two_ranks_split_exactly_once(
    cluster: LocalCluster, objects: dict[str, bytes], workers: int, method: str | None
) -> None:
    lists = count_lists(cluster)
    per_rank = []
    for rank in range(2):
        dataset = _iter("ais://tds/o/", cluster, shuffle=True, seed=9, rank=rank, world_size=2)
        dataset.set_epoch(2)
        per_rank.append(load(dataset, workers, method))
        assert len(dataset) == len(per_rank[-1]) == N // 2
    assert_exactly_once(per_rank[0] + per_rank[1], objects)
    assert lists() == 2  # one per rank (its own node here), never per worker


def test_listing_streams_into_the_fetch_window(cluster: LocalCluster, bucket: str) -> None:
    """200 objects listed 50 per page, each page 0.15 s late: with the default window (64 GETs)
    the first object arrives after at most two pages, long before the listing ends."""
    expected = put_objects(cluster, bucket, 200)
    pages = 200 // 50
    cluster.set_faults(
        [Fault("latency", every=1, delay=0.15, hop="proxy", path_prefix="/v1/buckets/")]
    )
    dataset = _iter(f"ais://{bucket}", cluster, config=FAST.replace(list_page_size=50))
    start = lists_served(cluster)
    samples = []
    for sample in dataset:
        if not samples:
            pages_at_first = lists_served(cluster) - start
        samples.append(sample)
    assert_exactly_once(samples, expected)
    assert lists_served(cluster) - start >= pages
    assert pages_at_first <= 2 < pages, "the first object waited for the whole listing"
    lists = count_lists(cluster)
    assert_exactly_once(list(dataset), expected)  # the next epoch reuses the recorded listing
    assert lists() == 0


def test_shuffle_same_on_every_rank_new_every_epoch(
    cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    def epoch(e: int, seed: int = 1) -> list[list[str]]:
        orders = []
        for rank in range(2):
            ds = _iter("ais://tds/o/", cluster, shuffle=True, seed=seed, rank=rank, world_size=2)
            ds.set_epoch(e)
            orders.append([name for name, _ in ds])
        assert_exactly_once([(n, objects[n]) for n in orders[0] + orders[1]], objects)
        return orders

    zero, one = epoch(0), epoch(1)
    assert zero == epoch(0)  # reproducible from (seed, epoch)
    assert zero[0] != one[0]
    assert zero[0] != epoch(0, seed=2)[0]
    assert zero[0] != sorted(zero[0])


def test_persistent_workers_follow_set_epoch(
    cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    def reference(e: int) -> list[str]:  # fresh workers every epoch, told the epoch
        ds = _iter("ais://tds/o/", cluster, shuffle=True, seed=6)
        ds.set_epoch(e)
        return [name for name, _ in load(ds, 2, "fork", batch_size=5)]

    dataset = _iter("ais://tds/o/", cluster, shuffle=True, seed=6)
    loader = data_loader(dataset, 2, "fork", batch_size=5, persistent_workers=True)
    lists = count_lists(cluster)
    orders = []
    for e in range(3):
        dataset.set_epoch(e)
        samples = [s for batch in loader for s in batch]
        assert_exactly_once(samples, objects)
        orders.append([name for name, _ in samples])
    assert lists() == 1  # listed once, kept across epochs
    del loader
    assert len(set(map(tuple, orders))) == 3
    assert orders == [reference(e) for e in range(3)]


async def _tasks() -> int:
    return len(asyncio.all_tasks())


@pytest.mark.parametrize(("cls", "workers", "method"), BOTH)
def test_break_leaves_no_thread_process_or_task(
    cluster: LocalCluster,
    objects: dict[str, bytes],
    cls: type[Any],
    workers: int,
    method: str | None,
) -> None:
    config = FAST.replace(window=4, bridge_queue=2)
    dataset = cls("ais://tds/o/", endpoint=cluster.endpoint, config=config)
    loader = data_loader(dataset, workers, method, batch_size=2)

    def run_and_break() -> None:
        for i, _batch in enumerate(loader):
            if i == 1:
                break

    run_and_break()  # lets lazy per-process threads start (loop, its resolver, tqdm monitor)
    tasks_before = runtime.call(_tasks)
    threads_before = set(threading.enumerate())
    for _ in range(3):
        run_and_break()
    assert multiprocessing.active_children() == []
    if workers == 0:  # our loop thread (one per process) has nothing left running
        assert runtime.call(_tasks) == tasks_before
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(timeout=5)  # torch's queue feeder threads end just after its iterator
    assert set(threading.enumerate()) <= threads_before  # no thread left behind


@pytest.mark.parametrize(("cls", "workers", "method"), BOTH)
def test_deleted_object_reaches_the_loop_typed(
    cluster: LocalCluster, bucket: str, cls: type[Any], workers: int, method: str | None
) -> None:
    put_objects(cluster, bucket, 12)
    dataset = cls(f"ais://{bucket}", endpoint=cluster.endpoint, config=FAST)
    assert len(dataset) == 12  # listed now
    with Client(cluster.endpoint, config=FAST) as client:
        client.delete((bucket, "o/00005"))
    error = load_error(dataset, workers, method)
    assert isinstance(error, ObjectNotFound)
    assert f"ais://{bucket}/o/00005" in str(error)


@pytest.mark.parametrize(
    ("source", "match"),
    [
        (None, "empty source list"),
        ([], "empty source list"),
        ("s3:/broken", "s3:/broken"),
        ("ais://", "ais://"),
        (42, "unsupported source 42"),
    ],
)
def test_malformed_sources_fail_at_construction(
    cluster: LocalCluster, source: Any, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        _iter(source, cluster)


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork")])
@pytest.mark.parametrize(
    ("source", "error", "match"),
    [
        ("ais://tds/nothing-here/", ConfigError, "no objects match ais://tds/nothing-here/"),
        ("ais://no-such-bucket", BucketNotFound, "ais://no-such-bucket"),
    ],
)
def test_nothing_to_read_fails_at_first_iteration(
    cluster: LocalCluster,
    objects: dict[str, bytes],
    workers: int,
    method: str | None,
    source: str,
    error: type[Exception],
    match: str,
) -> None:
    dataset = _iter(source, cluster)
    failure = load_error(dataset, workers, method)
    assert isinstance(failure, error)
    assert match in str(failure)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_show_progress_only_on_a_terminal(
    cluster: LocalCluster,
    objects: dict[str, bytes],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert len(list(_iter("ais://tds/o/", cluster, show_progress=True))) == N
    assert "part 0/1" not in capfd.readouterr().err  # stderr is not a terminal here
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert len(list(_iter("ais://tds/o/", cluster, show_progress=True))) == N
    assert "part 0/1" in terminal.getvalue()
    assert f"{N}sample" in terminal.getvalue().replace(" ", "")


class Sized(AISBaseIterDataset):
    """A subclass that overrides make_sample."""

    def make_sample(self, item: Any) -> Any:
        name, data = item
        return name, len(data)


def test_subclass_make_sample(cluster: LocalCluster, objects: dict[str, bytes]) -> None:
    samples = list(Sized("ais://tds/o/", endpoint=cluster.endpoint, config=FAST))
    assert sorted(samples) == sorted((n, len(d)) for n, d in objects.items())


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "spawn")])
def test_etl_name_is_applied_by_the_cluster(
    cluster: LocalCluster, objects: dict[str, bytes], workers: int, method: str | None
) -> None:
    dataset = AISIterDataset(
        "ais://tds/o/", etl_name="upper", endpoint=cluster.endpoint, config=FAST
    )
    before = cluster.stats()["etl.calls"]
    got = load(dataset, workers, method)
    assert_exactly_once(got, {name: data.upper() for name, data in objects.items()})
    assert cluster.stats()["etl.calls"] - before == N
