"""ordered_window's read-ahead past a straggler: calls keep starting while the oldest one is
slow, bounded by ``window`` running, ``ahead`` past the oldest and ``ahead_bytes`` held; the
order never changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from aisloader.core.stages.window import ordered_window


class Straggler:
    """Call 0 waits for ``release``; the others finish at once. Counts starts and peaks."""

    def __init__(self, size: int = 1, fail: int = -1) -> None:
        self.release = asyncio.Event()
        self.started = self.running = self.peak = 0
        self.size, self.fail = size, fail

    async def call(self, i: int) -> bytes:
        self.started += 1
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            if i == 0:
                await self.release.wait()
            else:
                await asyncio.sleep(0)
            if i == self.fail:
                raise ValueError(f"call {i} failed")
            return bytes([i % 256]) * self.size
        finally:
            self.running -= 1


async def _settle(s: Straggler) -> None:
    """Let the loop run until no more calls start (bounded: 500 turns)."""
    last = -1
    for _ in range(500):
        if s.started == last:
            return
        last = s.started
        for _ in range(5):
            await asyncio.sleep(0)


async def _blocked_then_released(
    s: Straggler, n: int, ahead: int | None = None, ahead_bytes: int | None = None
) -> tuple[int, list[int]]:
    """Calls started while call 0 is held, and the order of everything after release."""
    out: list[int] = []

    async def consume() -> None:
        async for i, _ in ordered_window(range(n), s.call, 4, ahead=ahead, ahead_bytes=ahead_bytes):
            out.append(i)

    task = asyncio.ensure_future(consume())
    await _settle(s)
    started, yielded_early = s.started, list(out)
    assert yielded_early == [], "nothing may pass the straggler"
    s.release.set()
    async with asyncio.timeout(10):
        await task
    return started, out


async def test_reads_ahead_past_a_straggler_in_order() -> None:
    s = Straggler()
    started, out = await _blocked_then_released(s, 50, ahead=20)
    assert started == 20  # the whole read-ahead, not just the window
    assert s.peak <= 4  # never more than window running
    assert out == list(range(50))


async def test_without_ahead_the_window_waits() -> None:
    s = Straggler()
    started, out = await _blocked_then_released(s, 50)
    assert started == 4
    assert out == list(range(50))


async def test_ahead_bytes_bounds_what_is_held() -> None:
    s = Straggler(size=10)
    started, out = await _blocked_then_released(s, 50, ahead=40, ahead_bytes=35)
    # finished results stop the starts once they hold >= 35 bytes: 4 of them (40 bytes),
    # plus the straggler and at most window - 1 calls started just before
    assert 1 + 4 <= started <= 1 + 4 + 3
    assert out == list(range(50))


async def test_unordered_ignores_ahead() -> None:
    s = Straggler()
    got: list[int] = []
    it = ordered_window(range(10), s.call, 3, False, ahead=8)
    async with contextlib.aclosing(it):
        for _ in range(9):  # every call but the held one
            got.append((await anext(it))[0])
        assert s.peak <= 3
        s.release.set()
        got.append((await anext(it))[0])
    assert sorted(got) == list(range(10))
    assert got[-1] == 0


async def test_a_later_failure_waits_its_turn() -> None:
    s = Straggler(fail=3)
    seen: list[int] = []
    task = asyncio.ensure_future(_collect(ordered_window(range(20), s.call, 4, ahead=10), seen))
    await _settle(s)
    assert seen == []  # call 3 failed already; 0..2 come first
    assert not task.done()
    s.release.set()
    with pytest.raises(ValueError, match="call 3 failed"):
        async with asyncio.timeout(10):
            await task
    assert seen == [0, 1, 2]
    assert s.running == 0  # the rest were cancelled and awaited


async def _collect(it: object, seen: list[int]) -> None:
    async for i, _ in it:  # type: ignore[attr-defined]
        seen.append(i)


async def test_a_failing_sync_source_raises_after_the_results_before_it() -> None:
    """The source is pulled from completion callbacks; its error still reaches the consumer,
    after every result started before it."""

    def source() -> Iterator[int]:
        yield from range(5)
        raise ValueError("source broke")

    seen: list[int] = []

    async def call(i: int) -> int:
        await asyncio.sleep(0)
        return i

    with pytest.raises(ValueError, match="source broke"):
        await asyncio.wait_for(_collect(ordered_window(source(), call, 2, ahead=4), seen), 10)
    assert seen == [0, 1, 2, 3, 4]
