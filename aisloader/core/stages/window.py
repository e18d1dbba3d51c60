"""Bounded-concurrency map over a (lazy, sync or async) iterable: the windowed fetch.

``ordered_window`` keeps at most ``window`` calls running, yields ``(item, result)`` in input
order (or completion order), pulls the input only as there is room, and cancels and awaits
whatever is still running when the consumer stops early (break, ``aclose()``, GC).

**Read-ahead past a straggler.** In order, a call that is slow (an object in retry backoff)
holds back every later result. Counting those finished results against ``window`` would stop
the fetching until the straggler ends; instead ``window`` bounds the calls *running*, and
``ahead`` bounds how far past the oldest result not yet yielded the window may start (the
finished results wait, in order, in memory), with ``ahead_bytes`` bounding the bytes those
finished results hold. The order, and so every resume position, is the same as without
read-ahead; only the waiting goes away while the straggler is within ``ahead`` items.
``ahead == window`` is the plain window.
"""

from __future__ import annotations

import asyncio
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

from aisloader.core.stages.flight import Flight
from aisloader.errors import ConfigError

__all__ = ["amap", "ordered_window"]

T = TypeVar("T")
R = TypeVar("R")


async def ordered_window(
    items: Iterable[T] | AsyncIterable[T],
    fn: Callable[[T], Awaitable[R]],
    window: int,
    ordered: bool = True,
    *,
    ahead: int | None = None,
    ahead_bytes: int | None = None,
) -> AsyncGenerator[tuple[T, R], None]:
    """Run ``fn`` over ``items`` with at most ``window`` calls running at once.

    Args:
        items: the inputs; consumed lazily, never materialized.
        fn: the async call made for each input.
        window: largest number of calls running at once.
        ordered: yield in input order (default) or as calls complete.
        ahead: in order, how many calls may be started or held past the oldest result not yet
            yielded (at least ``window``; default ``window``: no read-ahead; module docs).
        ahead_bytes: no call is started while the finished results waiting behind an earlier
            one hold this many bytes (``bytes``-like results, or lists of them; default: no
            byte bound).

    Yields:
        ``(item, fn(item))`` pairs.

    Raises:
        ConfigError: ``window`` < 1.
        Exception: the first exception of ``fn`` (in yield order), after cancelling the rest.

    The source is not closed when the consumer stops early (it belongs to the caller).
    """
    if window < 1:
        raise ConfigError(f"window must be >= 1, got {window}")
    sync = not isinstance(items, AsyncIterable)
    flight: Flight[T, R] = Flight(fn, window, ahead, ahead_bytes, ordered)
    try:
        if sync:  # in-memory: pulling never waits, so the completions refill the window
            flight.feed(iter(items))  # type: ignore[arg-type]
            while True:
                ready = flight.take()
                if ready is not None:
                    yield ready
                elif flight.empty():  # (take raised the source's error, if any)
                    return
                else:
                    await flight.news()
        else:
            async with aclosing(_async_window(aiter(items), flight)) as pairs:  # type: ignore[arg-type]
                async for pair in pairs:
                    yield pair
    finally:
        await flight.cancel()


async def _async_window(
    source: AsyncIterator[T], flight: Flight[T, R]
) -> AsyncGenerator[tuple[T, R], None]:
    """The window over an async source. One feeder task pulls the source and starts calls while
    there is room, so a slow source (a listing page on the wire) never holds back results that
    are already done; the consumer waits on the calls, and on the feeder only when idle."""

    async def feed() -> None:
        async for item in source:
            while not flight.room():
                await flight.freed()
            flight.start(item)

    feeder = asyncio.ensure_future(feed())
    feeder.add_done_callback(flight.poke)
    try:
        while True:
            ready = flight.take()
            if ready is not None:
                yield ready
                continue
            if feeder.done():
                feeder.result()  # the source's error, if any
                if flight.empty():
                    return
            await flight.news()
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)


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
