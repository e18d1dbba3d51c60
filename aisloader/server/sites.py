"""The listening side of `LocalCluster`: one aiohttp runner per node, node stops and restarts,
the loop thread, and what a forked child must do with the sockets it inherited.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import weakref

from aiohttp import web

__all__ = ["Sites", "run_loop"]

_BACKLOG = 1024
_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_SITES: weakref.WeakSet[Sites] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """In a forked child (e.g. a DataLoader worker), the emulator is a dead copy.

    Its server tasks will never run: do not report them as "destroyed but pending" at exit.
    Its sockets must not outlive the parent's: a listening socket the child still holds keeps
    the port accepting connections nobody answers after the parent stops the cluster (clients
    then wait for a read timeout instead of being refused). Each socket's descriptor is pointed
    at /dev/null: the parent's socket is untouched, and nothing in the child can close a
    descriptor number that something else reuses later.
    """
    for loop in list(_LOOPS):
        for task in asyncio.all_tasks(loop):
            task._log_destroy_pending = False  # type: ignore[attr-defined]
    fds = {fd for sites in list(_SITES) for fd in sites.socket_fds()}
    if fds:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in fds:
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
        os.close(null)


os.register_at_fork(after_in_child=_after_fork_in_child)


class Sites:
    """The nodes' runners in order (the proxy first), and which of them are stopped.

    Args:
        host: the address every node binds.
        tls: the server TLS context (None: plain http).
    """

    def __init__(self, host: str, tls: ssl.SSLContext | None) -> None:
        self.host, self.tls = host, tls
        self.runners: list[web.AppRunner] = []
        self.stopped: dict[int, web.AppRunner] = {}  # slot → its closed runner
        _SITES.add(self)

    def url(self, port: int) -> str:
        """The URL of a node on ``port``."""
        scheme = "https" if self.tls is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{port}"

    async def serve(self, app: web.Application, port: int) -> web.AppRunner:
        """Serve ``app`` on ``port`` (0: any free port).

        Raises:
            OSError: the port cannot be bound.
        """
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, port, backlog=_BACKLOG, ssl_context=self.tls)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner

    async def add(self, app: web.Application, port: int) -> int:
        """Serve ``app`` as the next node; return the port it listens on."""
        runner = await self.serve(app, port)
        self.runners.append(runner)
        return int(runner.addresses[0][1])

    async def stop_all(self) -> None:
        """Clean up every runner not stopped already."""
        runners, self.runners = self.runners, []
        stopped, self.stopped = list(self.stopped.values()), {}
        for runner in reversed(runners):
            if runner not in stopped:
                await runner.cleanup()

    async def stop(self, slot: int, what: str) -> None:
        """Stop listening on ``slot`` and cut its connections, as a crashed daemon would.

        Raises:
            RuntimeError: the slot is stopped already.
        """
        if slot in self.stopped:
            raise RuntimeError(f"{what} is already stopped")
        runner = self.runners[slot]
        self.stopped[slot] = runner
        for site in list(runner.sites):
            await site.stop()
        if runner.server is not None:
            for conn in list(runner.server.connections):
                if conn.transport is not None:
                    conn.transport.abort()
        await runner.cleanup()

    async def start(self, slot: int, app: web.Application, port: int, what: str) -> None:
        """Serve a stopped slot again with ``app`` on its old ``port``.

        Raises:
            RuntimeError: the slot is not stopped.
            OSError: the port cannot be bound again.
        """
        if slot not in self.stopped:
            raise RuntimeError(f"{what} is not stopped")
        self.runners[slot] = await self.serve(app, port)
        del self.stopped[slot]

    def socket_fds(self) -> set[int]:
        """Descriptors of every listening and open socket (for the fork hook; never raises)."""
        fds: set[int] = set()
        with contextlib.suppress(Exception):  # a copy taken mid-update: keep what was read
            for runner in list(self.runners):
                for site in list(runner.sites):
                    server = getattr(site, "_server", None)  # aiohttp keeps no public handle
                    fds.update(sock.fileno() for sock in getattr(server, "sockets", ()))
                handler = runner.server
                for conn in list(handler.connections) if handler is not None else []:
                    sock = conn.transport.get_extra_info("socket") if conn.transport else None
                    fds.add(sock.fileno() if sock is not None else -1)
        return {fd for fd in fds if fd >= 0}


def run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The body of a cluster's loop thread: run ``loop`` until stopped, then close it."""
    _LOOPS.add(loop)
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
