"""Mixing stages: a bounded sample shuffle buffer and a bounded concurrent interleave.

* :class:`ShuffleBuffer` holds at most ``max_count`` samples and ``max_bytes`` bytes; once
  either bound is reached, each new sample pushes out a uniformly chosen one (seeded RNG).
* :func:`interleave` reads up to ``concurrency`` async iterators at once, each through a queue
  of ``per_source`` items, so one slow source does not stall the rest. ``deterministic=True``
  takes items round-robin (reproducible order, but a slow source makes the rotation wait).
  Every producer task is owned by a task group that ends with the consumer.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["ShuffleBuffer", "interleave"]

T = TypeVar("T")
_END = object()


class ShuffleBuffer(Generic[T]):
    """A reservoir of samples bounded by count and bytes (see module docs)."""

    def __init__(self, max_count: int, max_bytes: int, seed: int = 0) -> None:
        self.max_count, self.max_bytes = max_count, max_bytes
        self._rng = random.Random(seed)
        self._items: list[tuple[T, int]] = []
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def push(self, item: T, size: int) -> Iterator[T]:
        """Add ``item`` (``size`` bytes); yield the items that must leave to keep the bounds."""
        self._items.append((item, size))
        self._bytes += size
        while self._items and (len(self._items) > self.max_count or self._bytes > self.max_bytes):
            yield self._pop()

    def drain(self) -> Iterator[T]:
        """Empty the buffer in random order."""
        while self._items:
            yield self._pop()

    def _pop(self) -> T:
        index = self._rng.randrange(len(self._items))
        self._items[index], self._items[-1] = self._items[-1], self._items[index]
        item, size = self._items.pop()
        self._bytes -= size
        return item


async def interleave(
    sources: AsyncIterator[Callable[[], AsyncIterator[T]]],
    *,
    concurrency: int,
    per_source: int = 4,
    deterministic: bool = False,
) -> AsyncGenerator[T, None]:
    """Merge the iterators made by ``sources`` (factories), at most ``concurrency`` at a time.

    Raises:
        Exception: the first error of any source, after the others are cancelled.
    """
    if concurrency < 1 or per_source < 1:
        raise ValueError("concurrency and per_source must be >= 1")
    shared: asyncio.Queue[tuple[int, object]] = asyncio.Queue(concurrency * per_source)
    slots: dict[int, tuple[asyncio.Queue[tuple[int, object]], asyncio.Task[None]]] = {}
    order: list[int] = []  # slots in start order, for the round-robin
    exhausted, turn, next_slot = False, 0, 0
    try:
        while True:
            while not exhausted and len(slots) < concurrency:
                factory = await anext(sources, None)
                if factory is None:
                    exhausted = True
                    break
                queue = asyncio.Queue[tuple[int, object]](per_source) if deterministic else shared
                task = asyncio.create_task(_pump(next_slot, factory, queue))
                slots[next_slot] = (queue, task)
                order.append(next_slot)
                next_slot += 1
            if not slots:
                return
            if deterministic:
                slot = order[turn % len(order)]
                _, item = await slots[slot][0].get()
            else:
                slot, item = await shared.get()
            if item is _END or isinstance(item, _Failed):
                del slots[slot]
                order.remove(slot)
                if isinstance(item, _Failed):
                    raise item.error
                continue
            turn += 1
            yield item  # type: ignore[misc]
    finally:
        tasks = [task for _, task in slots.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def _pump(
    slot: int, factory: Callable[[], AsyncIterator[T]], queue: asyncio.Queue[tuple[int, object]]
) -> None:
    """Copy one source into ``queue``; always finish with a terminal item (end or failure)."""
    iterator = factory()
    try:
        async for item in iterator:
            await queue.put((slot, item))
    except Exception as exc:
        await queue.put((slot, _Failed(exc)))
        return
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
    await queue.put((slot, _END))
