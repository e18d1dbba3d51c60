"""``Lookahead`` (issue 14, tail tolerance for map-style datasets): each batch names the
consumer's next ones and the dataset reads them in the background. Counted, never timed: every
batch after a consumer's first is taken from a read started before it was asked for, no object
is read twice, samples are exact under every start method, skips still report, and a
``StatefulDataLoader`` resumes mid-epoch exactly once."""

from __future__ import annotations

import concurrent.futures
import pickle
import time
from typing import Any

import pytest
import torch
from _shared import FAST, data_loader, load
from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler
from torchds_util import N, assert_exactly_once, load_error

from aisloader.bridge.client import Client
from aisloader.config import ClientConfig
from aisloader.errors import ConfigError
from aisloader.server import LocalCluster
from aisloader.torch import AheadBatch, AISMapDataset, Lookahead
from aisloader.torch._prefetch import Prefetch, read_batch
from aisloader.torch._stats import _NoRow

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

BATCH = 7
BATCHES = -(-N // BATCH)


def _map(cluster: LocalCluster, **kw: Any) -> AISMapDataset:
    return AISMapDataset("ais://tds/o/", endpoint=cluster.endpoint, config=FAST, **kw)


def _shuffled(n: int, seed: int = 5) -> BatchSampler:
    return BatchSampler(
        RandomSampler(range(n), generator=torch.Generator().manual_seed(seed)), BATCH, False
    )


def test_batches_announce_the_same_consumers_next_ones() -> None:
    inner = list(BatchSampler(SequentialSampler(range(20)), 3, False))
    solo = list(Lookahead(inner, depth=2))
    assert solo == inner  # the batches themselves are unchanged
    assert solo[0].ahead == (tuple(inner[1]), tuple(inner[2]))
    assert solo[-2].ahead == (tuple(inner[-1]),)
    assert solo[-1].ahead == ()
    assert [b.first for b in solo] == [True] + [False] * 6
    dealt = list(Lookahead(inner, depth=2, num_workers=3))  # worker k % 3 reads batch k
    assert [b.first for b in dealt] == [True] * 3 + [False] * 4
    assert dealt[0].ahead == (tuple(inner[3]), tuple(inner[6]))
    assert dealt[1].ahead == (tuple(inner[4]),)
    assert len(Lookahead(inner)) == len(inner)
    again = pickle.loads(pickle.dumps(dealt[1]))  # as it travels to a worker
    assert isinstance(again, AheadBatch)
    assert (again, again.ahead, again.first) == (dealt[1], dealt[1].ahead, True)
    with pytest.raises(ConfigError, match="depth"):
        Lookahead(inner, depth=0)


def test_a_process_without_a_stats_row_takes_reads_ahead() -> None:
    """A process that could not take a stats row (``_NoRow``) counts nothing but reads on."""

    class Conn:
        config = ClientConfig()

        def submit(self, fn: Any) -> concurrent.futures.Future[Any]:
            done: concurrent.futures.Future[Any] = concurrent.futures.Future()
            done.set_result(fn)
            return done

        def wait(self, future: concurrent.futures.Future[Any]) -> Any:
            return future.result()

        def call(self, fn: Any) -> Any:
            return fn

    held, conn, rec = Prefetch(), Conn(), _NoRow()
    first = AheadBatch([0, 1], ahead=((2, 3),), first=True)
    assert read_batch(held, conn, first, lambda k: ("read", tuple(k)), lambda k: 1, rec) == (
        "read",
        (0, 1),
    )
    second = AheadBatch([2, 3], ahead=())
    assert read_batch(held, conn, second, lambda k: ("late", tuple(k)), lambda k: 1, rec) == (
        "read",
        (2, 3),
    )  # taken from the read started when the first batch announced it
    assert rec.prefetched == 1


def test_reads_ahead_are_bounded_in_bytes_and_count() -> None:
    started: list[tuple[int, ...]] = []

    def start(key: tuple[int, ...]) -> concurrent.futures.Future[Any]:
        started.append(key)
        return concurrent.futures.Future()

    def weigh(key: tuple[int, ...]) -> int:
        return 10 * len(key)

    held = Prefetch()
    held.announce([(1,), (2,), (3,)], start, weigh, budget=25)
    assert started == [(1,), (2,)]  # a third would hold 30 bytes
    assert held.take([1]) is not None
    held.announce([(2,), (3,), (4,)], start, weigh, budget=25)
    assert started == [(1,), (2,), (3,)]
    assert held.take([9]) is None
    held.announce([(5, 6, 7)], start, weigh, budget=25)  # over budget: held ones come first
    assert started[-1] == (3,)
    big = Prefetch()
    big.announce([(5, 6, 7)], start, weigh, budget=25)  # one batch is always allowed
    assert started[-1] == (5, 6, 7)
    stale = [f for f in (held.take([2]), held.take([3])) if f is not None]
    assert len(stale) == 2
    assert pickle.loads(pickle.dumps(held)).take([4]) is None  # pickles empty


@pytest.mark.parametrize(
    ("workers", "method"), [(0, None), (2, "fork"), (2, "forkserver"), (2, "spawn")]
)
def test_map_reads_the_announced_batches_ahead(
    cluster: LocalCluster, objects: dict[str, bytes], workers: int, method: str | None
) -> None:
    dataset = _map(cluster)
    sampler = Lookahead(_shuffled(N), depth=2, num_workers=workers)
    assert_exactly_once(load(dataset, workers, method, batch_sampler=sampler), objects)
    stats = dataset.stats()
    # every batch but each consumer's first was announced, read ahead, then taken
    assert stats["prefetched"] == BATCHES - max(1, workers)
    assert stats["objects"] == N  # nothing read twice, nothing read in vain


def test_an_abandoned_pass_serves_nothing_to_the_next(cluster: LocalCluster, bucket: str) -> None:
    """A pass broken off after its first batch leaves the next two read ahead; the objects of
    the second batch are then rewritten. The next pass (same order) drops those reads at its
    first batch: it hands out the new bytes, never the ones read ahead for the old pass."""
    names = [f"a{i:02d}" for i in range(3 * BATCH)]
    for name in names:
        cluster.put_object(bucket, name, b"old " + name.encode())
    dataset = AISMapDataset(f"ais://{bucket}", endpoint=cluster.endpoint, config=FAST)
    order = list(BatchSampler(SequentialSampler(range(len(names))), BATCH, False))
    before = cluster.stats().get("target.GET", 0)
    loader = data_loader(dataset, batch_sampler=Lookahead(order, depth=2))
    for _ in loader:
        break  # batch 0 taken; batches 1 and 2 are being read ahead
    for _ in range(1000):  # bounded: until the three batches' GETs were served
        if cluster.stats().get("target.GET", 0) - before >= 3 * BATCH:
            break
        time.sleep(0.01)
    assert cluster.stats().get("target.GET", 0) - before >= 3 * BATCH
    for name in names[BATCH : 2 * BATCH]:
        cluster.put_object(bucket, name, b"new " + name.encode())
    got = dict(s for b in loader for s in b)
    assert all(got[n] == b"new " + n.encode() for n in names[BATCH : 2 * BATCH])
    assert all(got[n] == b"old " + n.encode() for n in names[:BATCH] + names[2 * BATCH :])


def test_without_lookahead_nothing_is_read_ahead(
    cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    dataset = _map(cluster)
    assert_exactly_once(load(dataset, batch_sampler=_shuffled(N)), objects)
    assert dataset.stats()["prefetched"] == 0


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork")])
def test_skips_are_reported_from_reads_ahead(
    cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    names = [f"k{i:02d}" for i in range(30)]
    for name in names:
        cluster.put_object(bucket, name, name.encode())
    dataset = AISMapDataset(
        f"ais://{bucket}", endpoint=cluster.endpoint, config=FAST, on_error="skip", skip_budget=5
    )
    gone = {"k03", "k17", "k25"}
    with Client(cluster.endpoint) as client:
        for name in gone:
            client.delete(f"ais://{bucket}/{name}")
    got = load(
        dataset, workers, method, batch_sampler=Lookahead(_shuffled(30), num_workers=workers)
    )
    assert sorted(n for n, _ in got) == sorted(set(names) - gone)
    assert all(data == name.encode() for name, data in got)
    assert dataset.stats()["prefetched"] == -(-30 // BATCH) - max(1, workers)
    if workers == 0:  # a worker's report stays in the worker (its warnings name each skip)
        assert {r["object"].rsplit("/", 1)[1] for r in dataset.skip_report()} == gone


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork")])
def test_stateful_loader_resumes_exactly_once(
    cluster: LocalCluster, objects: dict[str, bytes], workers: int, method: str | None
) -> None:
    from torchdata.stateful_dataloader import StatefulDataLoader  # type: ignore[import-untyped]
    from torchdata.stateful_dataloader.sampler import BatchSampler as StatefulBatches
    from torchdata.stateful_dataloader.sampler import RandomSampler as StatefulRandom

    def loader(dataset: AISMapDataset) -> Any:
        order = StatefulRandom(range(N), generator=torch.Generator().manual_seed(11))
        sampler = Lookahead(StatefulBatches(order, BATCH, False), num_workers=workers)
        context = method if workers else None
        return StatefulDataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=workers,
            multiprocessing_context=context,
            collate_fn=list,
        )

    first = loader(_map(cluster))
    taken: list[Any] = []
    for i, batch in enumerate(first):
        taken.extend(batch)
        if i == 3:
            break
    state = first.state_dict()
    del first
    dataset = _map(cluster)
    resumed = loader(dataset)
    resumed.load_state_dict(state)
    rest = [sample for batch in resumed for sample in batch]
    assert len(taken) == 4 * BATCH
    assert_exactly_once(taken + rest, objects)
    assert dataset.stats()["prefetched"] > 0  # the resumed pass read ahead too


@pytest.mark.parametrize(("workers", "method", "told"), [(0, None, 3), (2, "fork", 0)])
def test_a_wrong_worker_count_is_a_config_error(
    cluster: LocalCluster, objects: dict[str, bytes], workers: int, method: str | None, told: int
) -> None:
    sampler = Lookahead(_shuffled(N), num_workers=told)
    error = load_error(_map(cluster), workers, method, batch_sampler=sampler)
    assert isinstance(error, ConfigError)
    assert f"Lookahead(num_workers={told}) but the DataLoader runs {workers} worker" in str(error)
