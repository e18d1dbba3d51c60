"""Bounded-concurrency map over a (lazy, sync or async) iterable: the windowed fetch.

``ordered_window`` keeps at most ``window`` calls in flight, yields ``(item, result)`` in input
order (or completion order), pulls the input only as the window frees up, and cancels and
awaits whatever is still running when the consumer stops early (break, ``aclose()``, GC).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import TypeVar

from aisloader.errors import ConfigError

__all__ = ["amap", "ordered_window"]

T = TypeVar("T")
R = TypeVar("R")


async def ordered_window(
    items: Iterable[T] | AsyncIterable[T],
    fn: Callable[[T], Awaitable[R]],
    window: int,
    ordered: bool = True,
) -> AsyncGenerator[tuple[T, R], None]:
    """Run ``fn`` over ``items`` with at most ``window`` calls in flight.

    Args:
        items: the inputs; consumed lazily, never materialized.
        fn: the async call made for each input.
        window: largest number of calls running at once.
        ordered: yield in input order (default) or as calls complete.

    Yields:
        ``(item, fn(item))`` pairs.

    Raises:
        ConfigError: ``window`` < 1.
        Exception: the first exception of ``fn`` (in yield order), after cancelling the rest.

    The source is not closed when the consumer stops early (it belongs to the caller).
    """
    if window < 1:
        raise ConfigError(f"window must be >= 1, got {window}")
    source = aiter(items) if isinstance(items, AsyncIterable) else _SyncSource(iter(items))
    running: deque[tuple[T, asyncio.Task[R]]] = deque()
    try:
        exhausted = False
        while True:
            while not exhausted and len(running) < window:
                try:
                    item = await anext(source)
                except StopAsyncIteration:
                    exhausted = True
                    break
                running.append((item, asyncio.ensure_future(fn(item))))
            if not running:
                return
            item, result = await (_head(running) if ordered else _first_done(running))
            yield item, result
    finally:
        await _cancel_all([task for _, task in running])


async def _head(running: deque[tuple[T, asyncio.Task[R]]]) -> tuple[T, R]:
    item, task = running[0]
    result = await task
    running.popleft()
    return item, result


async def _first_done(running: deque[tuple[T, asyncio.Task[R]]]) -> tuple[T, R]:
    done, _ = await asyncio.wait([t for _, t in running], return_when=asyncio.FIRST_COMPLETED)
    for i, (item, task) in enumerate(running):
        if task in done:
            del running[i]
            return item, task.result()
    raise AssertionError("asyncio.wait returned no finished task")  # pragma: no cover


async def _cancel_all(tasks: list[asyncio.Task[R]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


class _SyncSource(AsyncIterator[T]):
    """A sync iterator seen as an async one (a plain class: no async-generator finalizer)."""

    def __init__(self, it: Iterator[T]) -> None:
        self._it = it

    async def __anext__(self) -> T:
        try:
            return next(self._it)
        except StopIteration:
            raise StopAsyncIteration from None


class amap(AsyncIterator[R]):
    """``map`` over a sync or async iterable, as an async iterator (a plain class)."""

    def __init__(self, fn: Callable[[T], R], items: Iterable[T] | AsyncIterable[T]) -> None:
        self._fn: Callable[[T], R] = fn
        self._src: AsyncIterator[T] = (
            aiter(items) if isinstance(items, AsyncIterable) else _SyncSource(iter(items))
        )

    async def __anext__(self) -> R:
        return self._fn(await anext(self._src))
