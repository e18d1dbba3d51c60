"""Bounded-concurrency map over a (lazy, sync or async) iterable: the windowed fetch.

``ordered_window`` keeps at most ``window`` calls in flight, yields ``(item, result)`` in input
order (or completion order), pulls the input only as the window frees up, and cancels and
awaits whatever is still running when the consumer stops early (break, ``aclose()``, GC).

The two window loops are a little over 40 lines each: each is one loop whose ``finally`` must
see every task it started, so they are not split.
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
from contextlib import aclosing
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
    if not isinstance(items, AsyncIterable):  # in-memory: pulling never waits
        source = _SyncSource(iter(items))
        running: deque[tuple[T, asyncio.Task[R]]] = deque()
        try:
            while True:
                while len(running) < window and (item := source.next()) is not _NONE:
                    running.append((item, asyncio.ensure_future(fn(item))))  # type: ignore[arg-type]
                if not running:
                    return
                yield await (_head(running) if ordered else _first_done(running))
        finally:
            await _cancel_all([task for _, task in running])
    else:
        async with aclosing(_async_window(aiter(items), fn, window, ordered)) as pairs:
            async for pair in pairs:
                yield pair


async def _async_window(
    source: AsyncIterator[T],
    fn: Callable[[T], Awaitable[R]],
    window: int,
    ordered: bool,
) -> AsyncGenerator[tuple[T, R], None]:
    """The window over an async source. One feeder task pulls the source and starts calls while
    there is room, so a slow source (a listing page on the wire) never holds back results that
    are already done; the consumer waits on the calls, and on the feeder only when idle."""
    loop = asyncio.get_running_loop()
    running: deque[tuple[T, asyncio.Task[R]]] = deque()
    signal: list[asyncio.Future[None]] = [loop.create_future()]  # room freed / item started

    def poke() -> None:
        if not signal[0].done():
            signal[0].set_result(None)

    async def feed() -> None:
        async for item in source:
            while len(running) >= window:
                signal[0] = loop.create_future()
                await signal[0]
            running.append((item, asyncio.ensure_future(fn(item))))
            poke()

    feeder = asyncio.ensure_future(feed())
    try:
        while True:
            ready = _ready(running, ordered)
            if ready is not None:
                poke()  # room for the feeder
                yield ready
                continue
            if not running:
                if feeder.done():
                    feeder.result()  # the source's error, if any
                    return
                signal[0] = loop.create_future()
                await asyncio.wait([feeder, signal[0]], return_when=asyncio.FIRST_COMPLETED)
                continue
            waiting = [running[0][1]] if ordered else [t for _, t in running]
            await asyncio.wait([*waiting, feeder], return_when=asyncio.FIRST_COMPLETED)
            if feeder.done() and feeder.exception() is not None:
                feeder.result()
    finally:
        tasks: list[asyncio.Task[object]] = [task for _, task in running]
        tasks.append(feeder)
        await _cancel_all(tasks)


def _ready(running: deque[tuple[T, asyncio.Task[R]]], ordered: bool) -> tuple[T, R] | None:
    """A finished result that may be yielded now (the head, or any when unordered)."""
    if not running:
        return None
    if ordered:
        item, task = running[0]
        if task.done():
            running.popleft()
            return item, task.result()
        return None
    for i, (item, task) in enumerate(running):
        if task.done():
            del running[i]
            return item, task.result()
    return None


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


async def _cancel_all(tasks: list[asyncio.Task[R]] | list[asyncio.Task[object]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


_NONE = object()


class _SyncSource(AsyncIterator[T]):
    """A sync iterator seen as an async one (a plain class: no async-generator finalizer)."""

    def __init__(self, it: Iterator[T]) -> None:
        self._it = it

    def next(self) -> T | object:
        """The next item, or ``_NONE`` at the end."""
        return next(self._it, _NONE)

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
