"""How the torch datasets reach the async core: a per-process AsyncClient on the runtime loop.

Datasets hold only the endpoint and the frozen config (picklable); the client lives in the
process that uses it. Construction-time work (listing for ``__len__``) runs on a short-lived
loop in a helper thread, so no loop thread exists in the parent when DataLoader workers fork.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from aisloader import runtime
from aisloader.config import ClientConfig, endpoint_from_env
from aisloader.core.client import AsyncClient

__all__ = ["Conn", "run_short_lived"]

T = TypeVar("T")


class Conn:
    """Endpoint + config of a dataset; resolves to this process's AsyncClient on the loop."""

    __slots__ = ("config", "endpoint")

    def __init__(self, endpoint: str | None, config: ClientConfig | None, client: Any) -> None:
        if client is not None:  # an aisloader Client/AsyncClient: reuse its settings
            endpoint = endpoint or client.endpoint
            config = config or client.config
        self.endpoint = endpoint_from_env(endpoint)
        self.config = config or ClientConfig.from_env()

    def __getstate__(self) -> tuple[str, ClientConfig]:
        return self.endpoint, self.config

    def __setstate__(self, state: tuple[str, ClientConfig]) -> None:
        self.endpoint, self.config = state

    def _client(self) -> AsyncClient:
        key = ("aisloader.torch", self.endpoint, self.config)
        return runtime.per_process(key, lambda: AsyncClient(self.endpoint, config=self.config))

    def call(self, fn: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """Run ``fn(client)`` on this process's loop and return its result."""

        async def go() -> T:
            return await fn(self._client())

        return runtime.call(go)

    def iterate(self, fn: Callable[[AsyncClient], AsyncIterator[T]]) -> Iterator[T]:
        """Iterate ``fn(client)`` from synchronous code, through a bounded bridge queue."""
        return runtime.iterate(lambda: fn(self._client()), max_queue=self.config.bridge_queue)

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
