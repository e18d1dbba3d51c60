"""Shuffle buffer bounds and the concurrent interleave (ownership, errors, determinism)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from aisloader.core.stages.interleave import interleave
from aisloader.core.stages.shuffle import ShuffleBuffer


def test_shuffle_buffer_bounds_and_permutes() -> None:
    buf: ShuffleBuffer[int] = ShuffleBuffer(max_count=10, max_bytes=1000, seed=3)
    out: list[int] = []
    for i in range(100):
        out.extend(buf.push(i, 50))
        assert len(buf) <= 10
        assert buf.nbytes <= 1000
    out.extend(buf.drain())
    assert sorted(out) == list(range(100))
    assert out != list(range(100))
    again: ShuffleBuffer[int] = ShuffleBuffer(max_count=10, max_bytes=1000, seed=3)
    replay = [x for i in range(100) for x in again.push(i, 50)] + list(again.drain())
    assert replay == out


def test_shuffle_buffer_byte_bound_wins() -> None:
    buf: ShuffleBuffer[int] = ShuffleBuffer(max_count=1000, max_bytes=100, seed=0)
    for i in range(20):
        list(buf.push(i, 40))
        assert buf.nbytes <= 100


def _sources(
    n: int, k: int, delay: dict[int, float] | None = None, fail: int | None = None
) -> AsyncIterator[Callable[[], AsyncIterator[tuple[int, int]]]]:
    async def one(s: int) -> AsyncIterator[tuple[int, int]]:
        for i in range(k):
            await asyncio.sleep((delay or {}).get(s, 0))
            if fail == s and i == 1:
                raise ValueError(f"source {s} broke")
            yield s, i

    async def gen() -> AsyncIterator[Callable[[], AsyncIterator[tuple[int, int]]]]:
        for s in range(n):
            yield lambda s=s: one(s)

    return gen()


@pytest.mark.parametrize("deterministic", [True, False])
async def test_interleave_yields_everything_once(deterministic: bool) -> None:
    got = [x async for x in interleave(_sources(7, 5), concurrency=3, deterministic=deterministic)]
    assert sorted(got) == [(s, i) for s in range(7) for i in range(5)]
    for s in range(7):  # order within a source is kept
        assert [i for t, i in got if t == s] == list(range(5))


async def test_interleave_deterministic_is_reproducible() -> None:
    delays = {0: 0.003, 1: 0.0, 2: 0.001}
    a = [x async for x in interleave(_sources(5, 4, delays), concurrency=3, deterministic=True)]
    b = [x async for x in interleave(_sources(5, 4), concurrency=3, deterministic=True)]
    assert a == b


async def test_slow_source_does_not_stall_others() -> None:
    got = [x async for x in interleave(_sources(3, 3, {0: 0.05}), concurrency=3)]
    assert got[0][0] != 0  # the fast sources came first


async def test_error_propagates_and_tasks_end() -> None:
    before = len(asyncio.all_tasks())
    with pytest.raises(ValueError, match="source 2 broke"):
        async for _ in interleave(_sources(5, 3, fail=2), concurrency=2):
            pass
    assert len(asyncio.all_tasks()) == before


async def test_early_exit_cancels_producers() -> None:
    before = len(asyncio.all_tasks())
    agen = interleave(_sources(5, 100), concurrency=3)
    async for _ in agen:
        break
    await agen.aclose()
    assert len(asyncio.all_tasks()) == before
