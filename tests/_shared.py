"""Helpers shared by the test packages (``tests/`` is on ``sys.path`` under pytest)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from aisloader.config import ClientConfig

FAST = ClientConfig(backoff_base=0.002, backoff_cap=0.02, retry_budget=30.0, read_timeout=10.0)
"""Default retry attempts, but short backoffs so fault storms stay fast."""


@asynccontextmanager
async def fake_server(routes: list[web.RouteDef]) -> AsyncIterator[str]:
    """A throwaway aiohttp server on loopback (for answer shapes the cluster cannot produce)."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
