"""ordered_window and get_many: order, window bound, laziness, early exit cancels."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Iterator

import pytest

from aisloader.core.client import AsyncClient
from aisloader.core.stages.window import ordered_window
from aisloader.errors import ConfigError, ObjectNotFound
from aisloader.refs import RefLike
from aisloader.server import Fault, LocalCluster


class Gauge:
    """Counts calls in flight and remembers the peak."""

    def __init__(self) -> None:
        self.now = self.peak = self.started = 0

    async def run(self, delay: float, value: int) -> int:
        self.now += 1
        self.started += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(delay)
        finally:
            self.now -= 1
        return value


def _others() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_ordered_and_window_bound() -> None:
    g = Gauge()
    delays = [0.02 * ((i * 7) % 5) for i in range(40)]
    out = [v async for _, v in ordered_window(range(40), lambda i: g.run(delays[i], i), 6)]
    assert out == list(range(40))
    assert g.peak == 6


async def test_unordered_completion_order() -> None:
    g = Gauge()
    delays = {0: 0.2, 1: 0.0, 2: 0.05}
    out = [v async for _, v in ordered_window([0, 1, 2], lambda i: g.run(delays[i], i), 3, False)]
    assert out == [1, 2, 0]


async def test_lazy_source_not_materialized() -> None:
    pulled = 0

    def source() -> Iterator[int]:
        nonlocal pulled
        for i in range(10**9):
            pulled += 1
            yield i

    g = Gauge()
    async with contextlib.aclosing(ordered_window(source(), lambda i: g.run(0, i), 4)) as it:
        async for _, v in it:
            if v == 10:
                break
    assert pulled <= 15
    assert not _others()


async def test_async_source_and_errors() -> None:
    async def source() -> AsyncIterator[int]:
        for i in range(10):
            yield i

    async def fn(i: int) -> int:
        if i == 3:
            raise KeyError(i)
        await asyncio.sleep(0.01)
        return i

    got: list[int] = []

    async def drain() -> None:
        async for _, v in ordered_window(source(), fn, 4):
            got.append(v)

    with pytest.raises(KeyError):
        await drain()
    assert got == [0, 1, 2]
    await asyncio.sleep(0)
    assert not _others()
    with pytest.raises(ConfigError):
        [x async for x in ordered_window([1], fn, 0)]


async def test_early_exit_cancels_in_flight() -> None:
    g = Gauge()
    it = ordered_window(range(100), lambda i: g.run(0.0 if i == 0 else 10.0, i), 8)
    assert (await anext(it))[1] == 0
    assert g.now == 7
    await it.aclose()
    assert g.now == 0
    assert not _others()


async def test_gc_of_abandoned_iterator_cancels() -> None:
    g = Gauge()
    it = ordered_window(range(100), lambda i: g.run(0.0 if i == 0 else 10.0, i), 8)
    await anext(it)
    del it
    gc.collect()
    for _ in range(200):  # bounded: the loop's async-generator finalizer runs aclose()
        if g.now == 0 and not _others():
            break
        await asyncio.sleep(0.005)
    assert g.now == 0
    assert not _others()


async def test_get_many_window_enforced(
    client: AsyncClient, cluster: LocalCluster, bucket: str
) -> None:
    for i in range(40):
        cluster.put_object(bucket, f"w{i:02d}", bytes([i]) * 100)
    cluster.set_faults(
        [
            Fault(
                kind="latency",
                delay=0.03,
                fraction=1.0,
                hop="target",
                path_prefix=f"/v1/objects/{bucket}/",
            )
        ]
    )
    g = Gauge()
    real_get = client.get

    async def counting_get(ref: RefLike, **kw: object) -> bytes:
        g.now += 1
        g.peak = max(g.peak, g.now)
        try:
            return await real_get(ref)
        finally:
            g.now -= 1

    client.get = counting_get  # type: ignore[method-assign]
    refs = [(bucket, f"w{i:02d}") for i in range(40)]
    got = [(r.name, d) async for r, d in client.get_many(refs, window=5)]
    assert got == [(f"w{i:02d}", bytes([i]) * 100) for i in range(40)]
    assert g.peak == 5


async def test_get_many_early_exit_and_errors(
    client: AsyncClient, cluster: LocalCluster, bucket: str
) -> None:
    for i in range(20):
        cluster.put_object(bucket, f"e{i:02d}", b"e")
    cluster.set_faults(
        [
            Fault(
                kind="latency",
                delay=0.2,
                fraction=1.0,
                hop="target",
                path_prefix=f"/v1/objects/{bucket}/e0",
            )
        ]
    )
    gen = client.get_many(((bucket, f"e{i:02d}") for i in range(20)), window=15, ordered=False)
    first_ref, _ = await anext(gen)
    assert first_ref.name.startswith("e1")
    await gen.aclose()
    assert not _others()
    with pytest.raises(ObjectNotFound, match=f"ais://{bucket}/missing"):
        [x async for x in client.get_many([(bucket, "e10"), (bucket, "missing")])]
    assert not _others()


async def test_slow_source_does_not_hold_back_finished_results() -> None:
    """The source's second item comes only after the consumer got the first result: a window
    that waited for the source (to fill up, or to see its end) first would never finish."""
    events: list[str] = []
    first_result_seen = asyncio.Event()

    async def source() -> AsyncIterator[int]:
        yield 1
        await first_result_seen.wait()  # e.g. the next listing page is still on the wire
        events.append("source: item 2")
        yield 2

    async def double(x: int) -> int:
        return 2 * x

    seen: list[tuple[int, int]] = []
    async with asyncio.timeout(10):  # fails here, rather than hangs, if the window waits
        async for item, result in ordered_window(source(), double, 8):
            events.append(f"consumer: result {item}")
            first_result_seen.set()
            seen.append((item, result))
    assert seen == [(1, 2), (2, 4)]
    assert events == ["consumer: result 1", "source: item 2", "consumer: result 2"]
