"""Client counters (issue 14): the latency histogram and retry causes as pure rules, then the
counts of a real client against the embedded cluster — objects, bytes, retries by cause (equal
to the faults the cluster fired), the in-flight gauges (bounded by the window, back to 0 after
an early stop), reset, and the blocking client's view."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest
from _shared import FAST, put_objects

from aisloader.bridge.client import Client
from aisloader.core.client import AsyncClient
from aisloader.core.http.retry import Stats
from aisloader.core.stats import BUCKETS, CAUSES, Histogram, bucket_bounds, cause_of
from aisloader.errors import (
    AISError,
    ChecksumMismatch,
    IncompleteRead,
    ObjectNotFound,
    ServiceUnavailable,
    Throttled,
    TransportError,
)
from aisloader.server import Fault, LocalCluster


def test_histogram_quantiles_fall_in_the_right_bucket() -> None:
    hist = Histogram()
    values = [(i + 1) * 1e-4 for i in range(1000)]  # 0.1 ms .. 100 ms, uniform
    for v in values:
        hist.record(v)
    for q, true in ((0.5, values[499]), (0.99, values[989])):
        got = hist.quantile(q)
        assert got is not None
        assert true / 2 ** (1 / 3) <= got <= true * 2 ** (1 / 3), (q, got, true)
    assert len(hist.counts) == BUCKETS
    assert sum(hist.counts) == 1000


def test_histogram_edges() -> None:
    hist = Histogram()
    assert hist.quantile(0.5) is None
    for v in (0.0, 1e-9, 1e6):
        hist.record(v)
    assert (hist.counts[0], hist.counts[-1]) == (2, 1)
    assert hist.quantile(0.0) == bucket_bounds(0)[1]
    assert hist.quantile(1.0) == bucket_bounds(BUCKETS - 1)[0]
    hist.clear()
    assert sum(hist.counts) == 0
    lows = [bucket_bounds(i)[0] for i in range(BUCKETS)]
    assert lows == sorted(lows)
    assert bucket_bounds(BUCKETS - 1)[1] == float("inf")


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (ServiceUnavailable(503, "", "ais://b/o"), "503"),
        (Throttled(429, "", "ais://b/o"), "429"),
        (AISError(502), "502"),
        (AISError(418), "other"),
        (TransportError("reset", url="ais://b/o", attempts=1), "network"),
        (IncompleteRead("cut"), "network"),
        (ConnectionResetError(), "network"),
        (ChecksumMismatch("bad"), "checksum"),
        (RuntimeError("?"), "other"),
    ],
)
def test_cause_of(exc: BaseException, cause: str) -> None:
    assert CAUSES[cause_of(exc)] == cause


def test_snapshot_and_reset_of_fresh_stats() -> None:
    stats = Stats()
    stats.retried(ServiceUnavailable(503))
    stats.retried(TransportError("x"))
    stats.in_flight = 2
    snap = stats.snapshot()
    assert snap["retries"] == 2
    assert snap["retries_by_cause"] == {"503": 1, "network": 1}
    assert snap["latency_p50_ms"] is None
    assert snap["objects"] == 0
    stats.reset()
    assert (stats.retries, stats.by_cause, stats.generation) == (0, {}, 1)
    assert stats.snapshot()["in_flight"] == 2  # a gauge is not a count: reset leaves it


async def test_objects_bytes_and_latency(
    client: AsyncClient, cluster: LocalCluster, bucket: str
) -> None:
    objs = put_objects(cluster, bucket, 12)
    names = list(objs)
    for name in names[:10]:
        await client.get((bucket, name))
    async for _ in client.get_stream((bucket, names[10])):
        pass
    buf = bytearray(4096)
    await client.get_into((bucket, names[11]), buf)
    with pytest.raises(ObjectNotFound):
        await client.get((bucket, "missing"))
    snap = client.stats.snapshot()
    assert snap["objects"] == 12
    assert snap["bytes"] == sum(len(d) for d in objs.values())
    assert snap["in_flight"] == snap["in_flight_bytes"] == 0  # the failed read was let go
    assert 0 < snap["latency_p50_ms"] <= snap["latency_p99_ms"]
    assert snap["objects_per_s"] > 0
    assert snap["mb_per_s"] > 0
    assert sum(client.stats.latency.counts) == 12


async def test_get_batch_entries_count_as_objects(
    client: AsyncClient, cluster: LocalCluster, bucket: str
) -> None:
    objs = put_objects(cluster, bucket, 10)
    got = [v async for _, v in client.get_batch([(bucket, n) for n in objs], batch_size=4)]
    assert got == list(objs.values())
    size = sum(len(v) for v in got if isinstance(v, bytes))
    assert (client.stats.objects, client.stats.bytes_received) == (10, size)


async def test_retries_by_cause_are_the_faults_fired(cluster: LocalCluster, bucket: str) -> None:
    objs = put_objects(cluster, bucket, 40)
    pfx = f"/v1/objects/{bucket}/"
    cluster.set_faults(
        [
            Fault("status", every=4, status=503, path_prefix=pfx),
            Fault("status", every=7, status=429, path_prefix=pfx),
            Fault("reset", every=9, path_prefix=pfx),
        ]
    )
    before = cluster.stats()
    async with AsyncClient(cluster.endpoint, config=FAST) as c:
        got = {r.name: d async for r, d in c.get_many([(bucket, n) for n in objs], window=8)}
        stats = c.stats
    after = cluster.stats()
    assert got == objs

    def fired(kind: str) -> int:
        return after.get(f"faults.{kind}", 0) - before.get(f"faults.{kind}", 0)

    statuses = fired("status")
    assert stats.by_cause.get("503", 0) + stats.by_cause.get("429", 0) == statuses
    assert stats.by_cause["503"] > 0
    assert stats.by_cause["429"] > 0
    assert stats.by_cause["network"] == fired("reset") > 0
    assert stats.retries == sum(stats.by_cause.values()) == statuses + fired("reset")
    assert stats.objects == 40
    assert stats.in_flight == 0


async def test_in_flight_is_bounded_by_the_window_and_ends_at_zero(
    cluster: LocalCluster, bucket: str
) -> None:
    objs = put_objects(cluster, bucket, 12)
    cluster.set_faults([Fault("latency", every=1, delay=0.2, path_prefix=f"/v1/objects/{bucket}/")])
    async with AsyncClient(cluster.endpoint, config=FAST) as c:
        seen: list[int] = []
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                seen.append(c.stats.in_flight)
                await asyncio.sleep(0.002)

        sampler = asyncio.create_task(sample())
        pairs = c.get_many([(bucket, n) for n in objs], window=4)
        async with aclosing(pairs):
            async for _ in pairs:
                break  # stop early: the reads still in flight are cancelled
        stop.set()
        await sampler
        assert max(seen) == 4  # the window was full, never more
        assert (c.stats.in_flight, c.stats.in_flight_bytes) == (0, 0)
        assert c.stats.objects >= 1


def test_blocking_client_snapshot(cluster: LocalCluster, bucket: str) -> None:
    objs = put_objects(cluster, bucket, 3)
    with Client(cluster.endpoint, config=FAST) as c:
        start = c.stats.objects  # the process's shared client may have read before
        for name in objs:
            assert c.get((bucket, name)) == objs[name]
        snap = c.stats.snapshot()
        assert snap["objects"] - start == 3
        c.stats.reset()
        assert c.stats.snapshot()["objects"] == 0
        assert c.stats.requests == 0
