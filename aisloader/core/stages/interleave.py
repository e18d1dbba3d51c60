"""A bounded concurrent interleave of async sources.

:func:`interleave` reads up to ``concurrency`` async iterators at once, each through a queue of
``per_source`` items, so one slow source does not stall the rest. ``deterministic=True`` takes
items round-robin (reproducible order, but a slow source makes the rotation wait);
``sequential=True`` takes every item of the oldest source before the next one's (the order of a
plain concatenation) while the next sources already fill their queues. Every
producer task is owned by the generator and cancelled and awaited when it ends.

:func:`interleave` stays one function (about 50 lines): its loop, its slots and its
``finally`` share one invariant (every started task is in ``slots`` until it ended), which is
easiest to check when it is read in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TypeVar

__all__ = ["interleave"]

T = TypeVar("T")
_END = object()


async def interleave(
    sources: AsyncIterator[Callable[[], AsyncIterator[T]]],
    *,
    concurrency: int,
    per_source: int = 4,
    deterministic: bool = False,
    sequential: bool = False,
    turn: int = 0,
    on_end: Callable[[int], None] | None = None,
) -> AsyncGenerator[T, None]:
    """Merge the iterators made by ``sources`` (factories), at most ``concurrency`` at a time.

    Sources are numbered in the order they are started (0, 1, …); ``on_end(number)`` is called
    when a source's end is taken, in order with the items. ``turn`` starts the round-robin as if
    that many items were taken already (a resume restarts the same sources in the same order).

    Raises:
        Exception: the first error of any source, after the others are cancelled.
    """
    if concurrency < 1 or per_source < 1:
        raise ValueError("concurrency and per_source must be >= 1")
    shared: asyncio.Queue[tuple[int, object]] = asyncio.Queue(concurrency * per_source)
    slots: dict[int, tuple[asyncio.Queue[tuple[int, object]], asyncio.Task[None]]] = {}
    order: list[int] = []  # slots in start order, for the round-robin
    exhausted, next_slot = False, 0
    try:
        while True:
            while not exhausted and len(slots) < concurrency:
                factory = await anext(sources, None)
                if factory is None:
                    exhausted = True
                    break
                own = deterministic or sequential
                queue = asyncio.Queue[tuple[int, object]](per_source) if own else shared
                task = asyncio.create_task(_pump(next_slot, factory, queue))
                slots[next_slot] = (queue, task)
                order.append(next_slot)
                next_slot += 1
            if not slots:
                return
            if deterministic or sequential:
                slot = order[0] if sequential else order[turn % len(order)]
                _, item = await slots[slot][0].get()
            else:
                slot, item = await shared.get()
            if item is _END or isinstance(item, _Failed):
                del slots[slot]
                order.remove(slot)
                if isinstance(item, _Failed):
                    raise item.error
                if on_end is not None:
                    on_end(slot)
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
