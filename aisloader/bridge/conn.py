"""How synchronous code reaches the async core: one shared AsyncClient per endpoint + config.

The registry here is the only one in the package. In each process there is at most one
:class:`~aisloader.core.client.AsyncClient` per ``(endpoint, config)``, made on first use and
shared by every blocking :class:`~aisloader.bridge.client.Client` and every dataset with those
settings. A ``Client`` holds a *lease*: when the last lease is released (``close()``, or the
``Client`` garbage-collected) the shared client's session is closed, so dropped clients never
pile up sessions and sockets. Datasets hold a :class:`Conn`, whose lease lasts for the process
(DataLoader workers read until they exit; :func:`~aisloader.bridge.runtime.shutdown` closes it).

Construction-time work of datasets (listing for ``__len__``) runs on a short-lived loop in a
helper thread (:meth:`Conn.run_short_lived`), so no loop thread exists in the parent when
DataLoader workers fork.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable
from typing import Any, TypeVar

from aisloader.bridge import runtime
from aisloader.bridge.iterate import iterate
from aisloader.config import ClientConfig, endpoint_from_env
from aisloader.core.client import AsyncClient
from aisloader.sdkinfo import cluster_of, cluster_of_sources

__all__ = ["Conn", "lease", "release", "run_short_lived"]

T = TypeVar("T")


class _Shared:
    """One process's AsyncClient for one (endpoint, config), with its lease count."""

    __slots__ = ("client", "leases", "pinned")

    def __init__(self, endpoint: str, config: ClientConfig) -> None:
        self.client = AsyncClient(endpoint, config=config)
        self.leases = 0
        self.pinned = False

    async def aclose(self) -> None:  # called by runtime.shutdown
        await self.client.aclose()


def _key(endpoint: str, config: ClientConfig) -> tuple[str, str, ClientConfig]:
    return ("aisloader.bridge.conn", endpoint, config)


def _shared(endpoint: str, config: ClientConfig) -> _Shared:
    return runtime.per_process(_key(endpoint, config), lambda: _Shared(endpoint, config))


def lease(endpoint: str, config: ClientConfig) -> AsyncClient:
    """This process's shared client for ``(endpoint, config)``, with one more lease on it."""
    shared = _shared(endpoint, config)
    shared.leases += 1
    return shared.client


def release(endpoint: str, config: ClientConfig, pid: int, *, wait: bool = False) -> None:
    """Give back a lease taken in process ``pid`` (a no-op in any other process); the last
    lease closes the shared client unless a dataset pinned it — before returning with
    ``wait=True``, else in the background (a garbage-collected Client)."""
    if pid != os.getpid():
        return  # a lease inherited through fork belongs to the parent's client
    key = _key(endpoint, config)
    shared = runtime.peek(key)
    if not isinstance(shared, _Shared):
        return
    shared.leases -= 1
    if shared.leases <= 0 and not shared.pinned:
        runtime.discard(key)
        if wait and not runtime.on_loop_thread():
            runtime.call(shared.client.aclose)
        else:
            runtime.spawn(shared.client.aclose)


class Conn:
    """Endpoint + config of a dataset (picklable); resolves to this process's shared client.

    Where they come from, first match wins: ``endpoint=`` / ``config=``; an aisloader
    ``Client``/``AsyncClient`` passed as ``client=``; an official SDK ``Client`` passed as
    ``client=``, or the cluster the SDK sources belong to (endpoint, token, TLS, timeouts: see
    :mod:`aisloader.sdkinfo`); the environment (``AIS_ENDPOINT``, ``ClientConfig.from_env``).

    Raises:
        ConfigError: no endpoint anywhere, or SDK sources from two clusters.
    """

    __slots__ = ("config", "endpoint")

    def __init__(
        self,
        endpoint: str | None,
        config: ClientConfig | None,
        client: Any,
        sources: Iterable[Any] = (),
    ) -> None:
        sdk = cluster_of_sources(sources)
        if client is not None and hasattr(client, "endpoint") and hasattr(client, "config"):
            endpoint = endpoint or client.endpoint  # an aisloader Client/AsyncClient
            config = config or client.config
        elif client is not None:
            sdk = cluster_of(client) or sdk
        if sdk is not None and endpoint in (None, sdk.endpoint):
            endpoint = sdk.endpoint
            config = config or sdk.config(ClientConfig.from_env())
        self.endpoint = endpoint_from_env(endpoint)
        self.config = config or ClientConfig.from_env()

    def __getstate__(self) -> tuple[str, ClientConfig]:
        return self.endpoint, self.config

    def __setstate__(self, state: tuple[str, ClientConfig]) -> None:
        self.endpoint, self.config = state

    def client(self) -> AsyncClient:
        """This process's shared client (pinned: it lives as long as the process)."""
        shared = _shared(self.endpoint, self.config)
        shared.pinned = True
        return shared.client

    def call(self, fn: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """Run ``fn(client)`` on this process's loop and return its result."""

        async def go() -> T:
            return await fn(self.client())

        return runtime.call(go)

    def submit(self, fn: Callable[[AsyncClient], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Start ``fn(client)`` on this process's loop and return at once; :meth:`wait` takes
        its result (cancelling the future cancels the call).

        Raises:
            RuntimeError: called from the loop thread itself.
        """

        async def go() -> T:
            return await fn(self.client())

        runtime.check_thread()
        return runtime.portal().start_task_soon(go)

    def wait(self, future: concurrent.futures.Future[T]) -> T:
        """The result of a call from :meth:`submit` (its error raised here)."""
        return runtime.wait(future)

    def iterate(self, fn: Callable[[AsyncClient], AsyncIterator[T]]) -> Generator[T, None, None]:
        """Iterate ``fn(client)`` from synchronous code, through a bounded bridge queue."""
        return iterate(lambda: fn(self.client()), max_queue=self.config.bridge_queue)

    def run_short_lived(self, fn: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """Run ``fn(client)`` on a fresh loop in a helper thread (no lasting thread/session)."""

        async def go() -> T:
            async with AsyncClient(self.endpoint, config=self.config) as client:
                return await fn(client)

        return run_short_lived(go)


def run_short_lived(fn: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run(fn())`` in a helper thread: safe even under a running loop (Jupyter)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(_wrap(fn))
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="aisloader-short-lived", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["value"]
    return result


async def _wrap(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()
