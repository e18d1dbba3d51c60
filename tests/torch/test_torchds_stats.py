"""``dataset.stats()`` and ``StallMeter`` (issue 14): counts summed over the main process and
DataLoader workers of every start method (exact: items, objects, bytes, retries by cause), the
bridge queue's occupancy, reset, the counter file's lifetime (no leak), and the stall verdict —
on counts and event order with a fake clock, and on a real loader slowed by the cluster."""

from __future__ import annotations

import gc
import logging
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _shared import FAST, data_loader, load
from torchds_util import N

from aisloader.bridge.client import Client
from aisloader.server import Fault, LocalCluster
from aisloader.torch import AISIterDataset, AISMapDataset, StallMeter
from aisloader.torch._stats import DatasetStats

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

GET_PREFIX = "/v1/objects/tds/o/"


def _iter(cluster: LocalCluster, **kw: Any) -> AISIterDataset:
    return AISIterDataset("ais://tds/o/", endpoint=cluster.endpoint, config=FAST, **kw)


def _map(cluster: LocalCluster, **kw: Any) -> AISMapDataset:
    return AISMapDataset("ais://tds/o/", endpoint=cluster.endpoint, config=FAST, **kw)


def _fired(cluster: LocalCluster, before: dict[str, int], kind: str) -> int:
    return cluster.stats().get(f"faults.{kind}", 0) - before.get(f"faults.{kind}", 0)


@pytest.mark.parametrize(("workers", "method"), [(2, "fork"), (1, "spawn")])
def test_iter_stats_sum_the_workers(
    cluster: LocalCluster, objects: dict[str, bytes], workers: int, method: str
) -> None:
    dataset = _iter(cluster)
    assert dataset.stats()["processes"] == 0  # nothing read anywhere yet
    assert len(load(dataset, workers, method)) == N
    stats = dataset.stats()
    total = sum(map(len, objects.values()))
    assert (stats["items"], stats["objects"], stats["bytes"]) == (N, N, total)
    assert stats["processes"] == workers  # the workers (gone now: their counts stay)
    assert stats["requests"] >= N
    assert (stats["in_flight"], stats["queued"], stats["retries"]) == (0, 0, 0)
    assert 0 < stats["latency_p50_ms"] <= stats["latency_p99_ms"]
    assert len(load(dataset)) == N  # and once more in this process
    again = dataset.stats()
    assert (again["items"], again["objects"], again["processes"]) == (2 * N, 2 * N, workers + 1)


def test_map_stats_with_retries_by_cause(cluster: LocalCluster, objects: dict[str, bytes]) -> None:
    dataset = _map(cluster)
    assert dataset[0][0] == "o/00000"  # this process reads one: its own row
    cluster.set_faults(
        [
            Fault("status", every=5, status=503, path_prefix=GET_PREFIX),
            Fault("reset", every=11, path_prefix=GET_PREFIX),
        ]
    )
    before = cluster.stats()
    assert len(load(dataset, 2, "fork")) == N
    stats = dataset.stats()
    fired = {"503": _fired(cluster, before, "status"), "network": _fired(cluster, before, "reset")}
    assert all(fired.values())
    assert stats["retries_by_cause"] == fired  # what the cluster did, summed over the workers
    assert stats["retries"] == sum(fired.values())
    assert (stats["items"], stats["objects"], stats["processes"]) == (N + 1, N + 1, 3)
    assert stats["in_flight"] == stats["in_flight_bytes"] == 0


def test_reset_then_count_again(cluster: LocalCluster, objects: dict[str, bytes]) -> None:
    dataset = _map(cluster)
    load(dataset, 2, "fork")
    assert dataset.stats()["objects"] == N
    dataset.reset_stats()
    zero = dataset.stats()
    assert (zero["items"], zero["objects"], zero["bytes"], zero["latency_p50_ms"]) == (
        0,
        0,
        0,
        None,
    )
    load(dataset, 2, "fork")  # new workers: they take the rows the old ones left
    assert (dataset.stats()["items"], dataset.stats()["objects"]) == (N, N)


def test_a_client_reset_does_not_lose_the_dataset_counts(
    cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    dataset = _map(cluster)
    assert len(dataset.__getitems__(list(range(10)))) == 10
    with Client(cluster.endpoint, config=FAST) as client:  # this process's shared client
        client.stats.reset()
    assert len(dataset.__getitems__(list(range(10, 15)))) == 5
    stats = dataset.stats()
    assert (stats["items"], stats["objects"]) == (15, 15)


def test_queue_occupancy_of_the_bridge(cluster: LocalCluster, objects: dict[str, bytes]) -> None:
    """The first list of 16 items is taken; the producer then fills the bridge with the rest
    (window and queue are larger than the bucket): 44 items wait, then none once all are read."""
    dataset = _iter(cluster)
    it = iter(dataset)
    next(it)
    _until(lambda: dataset.stats()["queued"] == N - 16)
    rest = list(it)
    assert len(rest) == N - 1
    stats = dataset.stats()
    assert stats["queued"] == 0
    assert stats["queue_mean"] > 0  # something waited when a later list was taken


def test_counter_file_lives_with_the_dataset(
    cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    dataset = _map(cluster)
    path = dataset._stats.path
    load(dataset, 2, "fork", batch_size=30)
    assert path.exists()
    assert pickle.loads(pickle.dumps(dataset))._stats.path == path
    assert dataset.stats()["processes"] == 2
    del dataset
    gc.collect()
    assert not path.exists()  # removed by the process that made the dataset


def test_an_orphaned_dataset_is_adopted() -> None:
    """Unpickled where its maker is gone (``torch.load`` later), the counters become this
    process's to remove."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    stats = DatasetStats("f" * 32, owner=int(dead.stdout))
    stats.reset()  # makes the file
    path = stats.path
    assert path.exists()
    del stats
    gc.collect()
    assert not path.exists()


def _until(cond: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


# --- StallMeter -----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _timed(clock: FakeClock, n: int, cost: float) -> Iterator[int]:
    """``n`` items, each costing ``cost`` seconds of the fake clock to produce."""
    for i in range(n):
        clock.now += cost
        yield i


def _run(meter: StallMeter, clock: FakeClock, n: int, fetch: float, body: float) -> list[int]:
    out = []
    for item in meter.watch(_timed(clock, n, fetch)):
        clock.now += body
        out.append(item)
    return out


def test_stall_meter_counts_and_verdicts() -> None:
    clock = FakeClock()
    meter = StallMeter(clock=clock)
    assert "not enough batches" in meter.verdict()
    assert _run(meter, clock, 10, fetch=3.0, body=7.0) == list(range(10))
    report = meter.report()
    assert report["batches"] == 10
    assert report["startup_s"] == 3.0  # the first next() starts the loader: not a wait
    assert (report["wait_s"], report["busy_s"]) == (27.0, 70.0)
    assert report["wait_share"] == pytest.approx(27 / 97)
    assert report["stalled"] is True
    assert 3000 / 2 ** (1 / 3) <= report["wait_p50_ms"] <= 3000 * 2 ** (1 / 3)
    assert "waited 28% of the time on data" in report["verdict"]
    assert "raise window, num_workers or prefetch_factor" in report["verdict"]
    assert "use_batch_api=True" in report["verdict"]
    meter.reset()
    _run(meter, clock, 10, fetch=0.01, body=1.0)
    assert meter.report()["stalled"] is False
    assert "waited 1% of the time on data: the loader keeps up" in meter.verdict()


def test_stall_meter_callback_and_log(caplog: pytest.LogCaptureFixture) -> None:
    clock, seen = FakeClock(), []
    meter = StallMeter(every=3, callback=lambda r: seen.append(r["batches"]), clock=clock)
    _run(meter, clock, 10, fetch=1.0, body=1.0)
    assert seen == [3, 6, 9]  # after the body of every third batch
    with caplog.at_level(logging.INFO, logger="aisloader.stall"):
        text = meter.log()
    assert [r.getMessage() for r in caplog.records if r.name == "aisloader.stall"] == [text]
    with pytest.raises(ValueError, match="every"):
        StallMeter(every=3)
    with pytest.raises(ValueError, match="threshold"):
        StallMeter(threshold=1.5)


def test_stall_meter_closes_what_it_watches_on_break() -> None:
    clock, closed = FakeClock(), []

    def gen() -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            closed.append(True)

    watched = StallMeter(clock=clock).watch(gen())
    for item in watched:
        if item == 2:
            break
    watched.close()  # what garbage collection does after a break
    assert closed == [True]


def test_stall_meter_on_a_slow_loader(cluster: LocalCluster, objects: dict[str, bytes]) -> None:
    """Every GET held 50 ms by the cluster, a loop body that does nothing: the meter must call
    the loader the bottleneck, and the dataset's counts come along."""
    dataset = _map(cluster)
    cluster.set_faults([Fault("latency", every=1, delay=0.05, path_prefix=GET_PREFIX)])
    meter = StallMeter(dataset=dataset)
    batches = list(meter.watch(data_loader(dataset, batch_size=6)))
    assert len(batches) == N // 6
    report = meter.report()
    assert report["stalled"] is True
    assert "the loader is the bottleneck" in report["verdict"]
    assert (report["io"]["objects"], report["io"]["items"]) == (N, N)
