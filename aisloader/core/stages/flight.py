"""The calls of one :func:`~aisloader.core.stages.window.ordered_window`: started in input
order, counted by completion callbacks, taken in order (or as they finish), bounded by the
window (calls running), the read-ahead (calls past the oldest not taken) and the bytes the
finished ones hold.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["Flight"]

T = TypeVar("T")
R = TypeVar("R")

_NONE = object()


class Flight(Generic[T, R]):
    """The calls of one window: started in input order, counted as they run and finish.

    Completion callbacks keep the counts (no scan per result): ``running`` calls not yet done,
    ``held`` bytes of finished results not yet taken; with a sync source (:meth:`feed`) they
    also start the next calls, so the consumer wakes (``_news``) only for what it can take: the
    oldest call done (in order), any call done (unordered), a call started into an empty
    window, the feeder's end or the source's error. ``_room`` wakes an async feeder.
    """

    __slots__ = (
        "_ahead",
        "_bytes",
        "_calls",
        "_done",
        "_error",
        "_fn",
        "_items",
        "_live",
        "_news",
        "_ordered",
        "_room",
        "_window",
        "held",
        "running",
    )

    def __init__(
        self,
        fn: Callable[[T], Awaitable[R]],
        window: int,
        ahead: int | None,
        ahead_bytes: int | None,
        ordered: bool,
    ) -> None:
        self._fn, self._window, self._ordered = fn, window, ordered
        self._ahead = max(window, ahead or window) if ordered else window
        self._bytes = ahead_bytes if ordered and ahead_bytes else None
        self._calls: deque[tuple[T, asyncio.Task[R]]] = deque()  # not taken, in order (ordered)
        self._live: dict[asyncio.Task[R], T] = {}  # not taken (unordered)
        self._done: deque[asyncio.Task[R]] = deque()  # finished, not taken (unordered)
        self._items: Iterator[T] | None = None  # a sync source, fed from the callbacks
        self._error: BaseException | None = None  # what pulling it raised
        self._news: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None
        self.running = 0
        self.held = 0

    def room(self) -> bool:
        """Whether another call may start now."""
        taken = len(self._calls) if self._ordered else len(self._live)
        if self.running >= self._window or taken >= self._ahead:
            return False
        return self._bytes is None or self.held < self._bytes

    def empty(self) -> bool:
        """Whether no call is left to take."""
        return not (self._calls if self._ordered else self._live)

    def feed(self, items: Iterator[T]) -> None:
        """Pull ``items`` into calls while there is room, now and after each completion."""
        self._items = items
        self._fill()

    def _fill(self) -> None:
        items = self._items
        try:
            while items is not None and self.room():
                item = next(items, _NONE)
                if item is _NONE:
                    self._items = items = None
                    break
                self.start(item)  # type: ignore[arg-type]
        except BaseException as exc:  # raised to the consumer, not lost in a callback
            self._items, self._error = None, exc
            self.poke()

    def start(self, item: T) -> None:
        task = asyncio.ensure_future(self._fn(item))
        self.running += 1
        if self._ordered:
            self._calls.append((item, task))
            first = len(self._calls) == 1
        else:
            self._live[task] = item
            first = len(self._live) == 1
        task.add_done_callback(self._finished)
        if first:
            self.poke()

    def take(self) -> tuple[T, R] | None:
        """A finished result that may be yielded now (the oldest, or any when unordered); its
        error is raised here."""
        if self._error is not None and self.empty():
            raise self._error
        if self._ordered:
            if not self._calls or not self._calls[0][1].done():
                return None
            item, task = self._calls.popleft()
        else:
            if not self._done:
                return None
            task = self._done.popleft()
            item = self._live.pop(task)
        result = task.result()
        if self._bytes is not None:
            self.held -= _nbytes(result)
        self._freed()
        return item, result

    async def news(self) -> None:
        """Wait until there may be something to take (see the class docs)."""
        self._news = asyncio.get_running_loop().create_future()
        await self._news

    async def freed(self) -> None:
        """Wait until a call finishes or a result is taken."""
        self._room = asyncio.get_running_loop().create_future()
        await self._room

    def poke(self, _: object = None) -> None:
        news, self._news = self._news, None
        if news is not None and not news.done():
            news.set_result(None)

    def _freed(self) -> None:
        if self._items is not None:
            self._fill()
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)

    def _finished(self, task: asyncio.Task[R]) -> None:
        self.running -= 1
        if task.cancelled():
            return
        if not self._ordered:
            self._done.append(task)
            self.poke()
        else:
            if self._bytes is not None and task.exception() is None:
                self.held += _nbytes(task.result())
            if self._calls and self._calls[0][1] is task:
                self.poke()
        self._freed()

    async def cancel(self) -> None:
        """Cancel and await every call not taken."""
        self._items = None
        tasks = [task for _, task in self._calls] + list(self._live)
        self._calls.clear()
        self._live.clear()
        self._done.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _nbytes(result: object) -> int:
    """The bytes a result holds: its length, or its items' (a list of bytes, one level)."""
    if isinstance(result, bytes | bytearray | memoryview):
        return len(result)
    if isinstance(result, list | tuple):
        return sum(len(x) for x in result if isinstance(x, bytes | bytearray | memoryview))
    return 0
