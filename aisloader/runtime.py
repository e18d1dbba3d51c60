"""The per-process event-loop thread that synchronous code calls into (the sync bridge).

One loop thread per process, started lazily on first use through an anyio blocking portal and
kept until :func:`shutdown` (also run at exit). Everything is looked up by ``os.getpid()``; a
fork hook drops the parent's portal, thread and per-process objects in the child without
touching them (they belong to a thread that does not exist there), so a forked child starts
its own runtime on first use.

Stdlib and anyio only: this module imports nothing from ``aisloader.core``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["abandon", "call", "discard", "iterate", "per_process", "shutdown"]

T = TypeVar("T")

_SLICE = 0.25  # seconds per wait slice, so Ctrl-C is seen promptly
_BATCH = 64  # items per cross-thread hop in iterate(): measured 13x the items/s of one per hop


@dataclass
class _Runtime:
    pid: int
    portal: BlockingPortal | None = None
    closer: contextlib.AbstractContextManager[BlockingPortal] | None = None
    thread_id: int = 0
    objects: dict[Hashable, Any] = field(default_factory=dict)


_lock = threading.Lock()
_state: _Runtime | None = None
_abandoned: list[object] = []  # parent objects inherited by a forked child: kept, never closed


def _after_fork_in_child() -> None:
    global _lock, _state
    _lock = threading.Lock()  # the parent's lock may be held by a thread that is gone here
    if _state is not None:
        _abandoned.append(_state)
    _state = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _current() -> _Runtime:
    global _state
    with _lock:
        if _state is None or _state.pid != os.getpid():
            _state = _Runtime(os.getpid())
        return _state


def _portal() -> BlockingPortal:
    rt = _current()
    with _lock:
        if rt.portal is None:
            closer = start_blocking_portal(name=f"aisloader-loop-{rt.pid}")
            rt.portal = closer.__enter__()
            rt.closer = closer
            rt.thread_id = rt.portal.call(threading.get_ident)
        return rt.portal


def _check_thread() -> None:
    if _on_loop_thread():
        raise RuntimeError(
            "aisloader's blocking API was called from its own event-loop thread; "
            "use the async API (AsyncClient) inside coroutines"
        )


def _wait(future: concurrent.futures.Future[T]) -> T:
    try:
        while True:
            try:
                return future.result(timeout=_SLICE)
            except concurrent.futures.TimeoutError:
                continue
    except BaseException:
        future.cancel()  # Ctrl-C (or any interruption): cancel the task on the loop
        raise


def call(async_fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run ``async_fn(*args, **kwargs)`` on this process's loop thread and return its result.

    Raises:
        RuntimeError: called from the loop thread itself (it would deadlock).
        BaseException: whatever ``async_fn`` raises.
    """
    _check_thread()
    portal = _portal()
    return _wait(portal.start_task_soon(functools.partial(async_fn, *args, **kwargs)))


class _End:
    """Terminal item of a bridged iterator: normal end, or the producer's exception."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def iterate(factory: Callable[[], AsyncIterator[T]], max_queue: int) -> Generator[T, None, None]:
    """Iterate the async iterator made by ``factory()`` from synchronous code.

    A producer task on the loop thread feeds a bounded stream of ``max_queue`` items; it always
    ends with a terminal item, so the consumer never waits forever. Closing the returned
    iterator early (``break``, ``close()``, garbage collection) cancels the producer.

    Raises:
        RuntimeError: called from the loop thread itself.
        BaseException: whatever the async iterator raises, at the point it raises it.
    """
    _check_thread()
    if max_queue < 1:
        raise ValueError(f"max_queue must be >= 1, got {max_queue}")
    return _consume(_portal(), factory, max_queue)


def _consume(
    portal: BlockingPortal, factory: Callable[[], AsyncIterator[T]], max_queue: int
) -> Generator[T, None, None]:
    send, receive = portal.call(_open_stream, max_queue)
    tasks: list[asyncio.Task[Any]] = []
    producer = portal.start_task_soon(_produce, factory, send, tasks)
    try:
        while True:
            for item in _wait(portal.start_task_soon(_receive_batch, receive)):
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
    finally:
        _stop_producer(portal, producer, receive, tasks)


def _stop_producer(
    portal: BlockingPortal,
    producer: concurrent.futures.Future[None],
    receive: MemoryObjectReceiveStream[Any],
    tasks: list[asyncio.Task[Any]],
) -> None:
    """Cancel the producer and wait until its cleanup has run (never blocks the loop thread).

    The producer task gets one (edge-triggered) asyncio cancellation, so the ``finally``
    blocks of the source iterator can still await their cleanup (closing connections); the
    portal's future resolves only when that is done. (Cancelling the future itself resolves
    it at once, and an anyio cancel scope would cancel every await of the cleanup too.)
    """
    if _on_loop_thread():  # garbage-collected on the loop: cancel, cannot wait here
        _cancel(tasks, receive)
        return
    with contextlib.suppress(BaseException):
        portal.call(_cancel, tasks, receive)
    if not tasks:  # the producer task never started: drop it
        producer.cancel()
    with contextlib.suppress(BaseException):
        producer.exception(timeout=30)


def _cancel(tasks: list[asyncio.Task[Any]], receive: MemoryObjectReceiveStream[Any]) -> None:
    for task in tasks:
        task.cancel()
    receive.close()


def _on_loop_thread() -> bool:
    rt = _state
    return rt is not None and rt.pid == os.getpid() and rt.thread_id == threading.get_ident()


async def _open_stream(
    n: int,
) -> tuple[MemoryObjectSendStream[Any], MemoryObjectReceiveStream[Any]]:
    return anyio.create_memory_object_stream[Any](n)


async def _produce(
    factory: Callable[[], AsyncIterator[Any]],
    send: MemoryObjectSendStream[Any],
    tasks: list[asyncio.Task[Any]],
) -> None:
    task = asyncio.current_task()
    assert task is not None
    tasks.append(task)
    try:
        await _pump(factory, send)
    except asyncio.CancelledError:
        # Stopped by _stop_producer (the consumer left) or by shutdown; the cleanup has run.
        # Returning normally resolves the portal future that _stop_producer waits on.
        task.uncancel()


async def _pump(
    factory: Callable[[], AsyncIterator[Any]], send: MemoryObjectSendStream[Any]
) -> None:
    async with send:
        end = _End()
        it: AsyncIterator[Any] | None = None
        try:
            it = factory()
            async for item in it:
                await send.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return  # the consumer went away
        except Exception as exc:
            end = _End(exc)
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await send.send(end)


async def _receive_batch(receive: MemoryObjectReceiveStream[Any]) -> list[Any]:
    try:
        items = [await receive.receive()]
    except anyio.EndOfStream:
        return [_End(RuntimeError("bridged iterator ended without a terminal item"))]
    while len(items) < _BATCH and not isinstance(items[-1], _End):
        try:
            items.append(receive.receive_nowait())
        except (anyio.WouldBlock, anyio.EndOfStream):
            break
    return items


def per_process(key: Hashable, factory: Callable[[], T]) -> T:
    """The object stored under ``key`` in this process, made by ``factory()`` on first use.

    Safe to call from any thread, the loop thread included. Objects with ``aclose()`` are
    closed on the loop by :func:`shutdown`; in a forked child they are abandoned, never closed.
    """
    rt = _current()
    obj = rt.objects.get(key)
    if obj is None:
        made = factory()  # outside the lock: the factory may use the runtime itself
        with _lock:
            obj = rt.objects.setdefault(key, made)
    return obj  # type: ignore[no-any-return]


def discard(key: Hashable) -> object | None:
    """Forget the per-process object under ``key`` and return it (None if absent)."""
    obj: object | None = _current().objects.pop(key, None)
    return obj


def abandon(obj: object) -> None:
    """Keep ``obj`` (inherited from a parent process) alive without ever closing it."""
    _abandoned.append(obj)


def shutdown() -> None:
    """Close the per-process objects and stop the loop thread (idempotent; run at exit)."""
    global _state
    with _lock:
        rt = _state
        if rt is None or rt.pid != os.getpid():
            return
        _state = None
    if rt.portal is None or rt.closer is None:
        return
    for obj in list(rt.objects.values()):
        aclose = getattr(obj, "aclose", None)
        if aclose is not None and threading.get_ident() != rt.thread_id:
            with contextlib.suppress(Exception):
                rt.portal.call(aclose)
    with contextlib.suppress(Exception):
        rt.portal.call(rt.portal.stop, True)  # cancel producers nobody will ever read
    rt.closer.__exit__(None, None, None)


atexit.register(shutdown)
