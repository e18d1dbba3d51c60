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
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = [
    "abandon",
    "call",
    "discard",
    "on_loop_thread",
    "peek",
    "per_process",
    "shutdown",
    "spawn",
]

T = TypeVar("T")

_SLICE = 0.25  # seconds per wait slice, so Ctrl-C is seen promptly


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


def portal() -> BlockingPortal:
    rt = _current()
    with _lock:
        if rt.portal is None:
            closer = start_blocking_portal(name=f"aisloader-loop-{rt.pid}")
            rt.portal = closer.__enter__()
            rt.closer = closer
            rt.thread_id = rt.portal.call(threading.get_ident)
        return rt.portal


def check_thread() -> None:
    if on_loop_thread():
        raise RuntimeError(
            "aisloader's blocking API was called from its own event-loop thread; "
            "use the async API (AsyncClient) inside coroutines"
        )


def wait(future: concurrent.futures.Future[T]) -> T:
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
    check_thread()
    return wait(portal().start_task_soon(functools.partial(async_fn, *args, **kwargs)))


def on_loop_thread() -> bool:
    """True in this process's loop thread (where blocking calls would deadlock)."""
    rt = _state
    return rt is not None and rt.pid == os.getpid() and rt.thread_id == threading.get_ident()


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


def peek(key: Hashable) -> object | None:
    """The per-process object under ``key``, or None (never makes one)."""
    obj: object | None = _current().objects.get(key)
    return obj


def spawn(async_fn: Callable[[], Awaitable[object]]) -> None:
    """Start ``async_fn()`` on this process's loop without waiting for it (from any thread,
    the loop thread included); a no-op when this process has no loop thread (nothing of it
    can need the loop then). Errors are dropped: this is for cleanup."""
    rt = _current()
    if rt.portal is None:
        return
    if on_loop_thread():
        task = asyncio.get_running_loop().create_task(_quiet(async_fn))
        _spawned.add(task)
        task.add_done_callback(_spawned.discard)
        return
    with contextlib.suppress(RuntimeError):  # the portal is stopping: shutdown closes it all
        rt.portal.start_task_soon(_quiet, async_fn)


async def _quiet(async_fn: Callable[[], Awaitable[object]]) -> None:
    with contextlib.suppress(Exception):
        await async_fn()


_spawned: set[asyncio.Task[None]] = set()


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
