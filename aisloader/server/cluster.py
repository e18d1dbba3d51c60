"""`LocalCluster`: a proxy and N targets on loopback ports, all served by one event loop.

This is where the pieces meet: each node gets an aiohttp app (`nodes.app.make_app`) whose
routes are its role's handler classes, the proxy's `ProxyHandlers` + `AdminHandlers` +
`BatchProxyHandlers` or a target's `TargetHandlers` + `BatchTargetHandlers`, over one `Shared`
state and one get-batch `BatchState`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import TracebackType

from aiohttp import web

from aisloader.server import hrw
from aisloader.server.batch.proxy import BatchProxyHandlers
from aisloader.server.batch.routing import BatchState
from aisloader.server.batch.target import BatchTargetHandlers
from aisloader.server.batch.work import WorkRegistry
from aisloader.server.faults import Fault
from aisloader.server.names import BucketId, parse_bucket
from aisloader.server.nodes.app import make_app
from aisloader.server.nodes.proxy import AdminHandlers, ProxyHandlers
from aisloader.server.nodes.state import Node, Shared
from aisloader.server.nodes.target import TargetHandlers
from aisloader.server.store import Store

__all__ = ["LocalCluster"]

_BACKLOG = 1024
_START_TIMEOUT = 30.0
_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_CLUSTERS: weakref.WeakSet[LocalCluster] = weakref.WeakSet()


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
    fds = {fd for cluster in list(_CLUSTERS) for fd in cluster._socket_fds()}
    if fds:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in fds:
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
        os.close(null)


os.register_at_fork(after_in_child=_after_fork_in_child)


class LocalCluster:
    """An embedded AIS-compatible cluster for tests and benchmarks.

    Use ``with LocalCluster() as c:`` (own event loop in a background thread) or
    ``async with LocalCluster() as c:`` (runs in the current loop). ``endpoint`` is the proxy
    URL once started. Objects live as plain files under ``root`` (a temporary directory,
    removed on stop, when ``root`` is None). ``get_batch=False`` turns get-batch
    (``/v1/ml/moss``) off: it then answers 501 ErrNotImpl, for testing clients' fallback.

    Inline ETL: ``GET ...?etl_name=NAME[&etl_args=ARGS]`` returns the object (or, with
    ``archpath``, the archive member) transformed by the ETL registered as NAME. Built-ins:
    ``echo``, ``upper``, ``md5`` (hex digest) and ``prefix`` (``etl_args`` + data); add your own
    with `register_etl`. An unknown name is a 404 the SDK maps to ``ErrETLNotFound``; get-batch
    refuses ``etl_name`` (400). ``stats()["etl.calls"]`` counts the transforms applied.

    Client errors are 4xx with AIS's error JSON, never a 500; answers never show ``root``.
    Logs go to ``aisloader.server``: a client that leaves mid-answer or sends bad HTTP is one
    DEBUG line, a server bug one ERROR record with its traceback.

    Node restarts (AIS's resilience tests read on while targets restart): `stop_target` closes
    one target's port and ends its connections, mid-answer ones included; `start_target`
    serves it again on the same port from the same store; `restart_target` does both. The
    smap does not change, so the proxy still redirects to a stopped target and clients see
    refused connections until it is back.

    Raises:
        ValueError: when ``targets`` < 1.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        targets: int = 2,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        get_batch: bool = True,
    ) -> None:
        if targets < 1:
            raise ValueError(f"a cluster needs at least one target, got {targets}")
        self._owned_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="aisloader-emu-") if root is None else root)
        self.host, self.port, self.seed = host, port, seed
        proxy = Node(hrw.make_daemon_id("p", seed, 0), "proxy")
        tnodes = [Node(hrw.make_daemon_id("t", seed, i), "target") for i in range(targets)]
        self._shared = Shared(Store(self.root), proxy, tnodes, seed)
        self._batch = BatchState(WorkRegistry(seed=seed), enabled=get_batch)
        self.endpoint = ""
        self.target_endpoints: list[str] = []
        self._runners: list[web.AppRunner] = []
        self._stopped: dict[int, web.AppRunner] = {}  # target index → its closed runner
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        _CLUSTERS.add(self)

    # ------------------------------------------------------------------ lifecycle

    async def _astart(self) -> None:
        sh = self._shared
        nodes = [(sh.proxy, self.port), *((t, 0) for t in sh.targets)]
        try:
            for node, port in nodes:
                runner = await self._serve(node, port)
                self._runners.append(runner)
                node.url = _url(self.host, runner.addresses[0][1])
        except BaseException:
            await self._astop()
            raise
        sh.build_smap()
        self.endpoint = sh.proxy.url
        self.target_endpoints = [t.url for t in sh.targets]

    async def _serve(self, node: Node, port: int) -> web.AppRunner:
        runner = web.AppRunner(
            make_app(self._shared, node, self._routes(node)), access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, port, backlog=_BACKLOG).start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner

    def _routes(self, node: Node) -> list[web.RouteDef]:
        sh, batch = self._shared, self._batch
        if node.role == "proxy":
            return [
                *ProxyHandlers(sh).routes(),
                *AdminHandlers(sh).routes(),
                *BatchProxyHandlers(sh, batch).routes(),
            ]
        return [*TargetHandlers(sh, node).routes(), *BatchTargetHandlers(sh, node, batch).routes()]

    async def _astop(self) -> None:
        runners, self._runners = self._runners, []
        stopped, self._stopped = list(self._stopped.values()), {}
        for runner in reversed(runners):
            if runner not in stopped:  # a stopped target's runner is cleaned up already
                await runner.cleanup()
        if self._thread is not None:  # our own loop: end every connection handler it still has
            current = asyncio.current_task()
            leftovers = [t for t in asyncio.all_tasks() if t is not current]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)

    async def __aenter__(self) -> LocalCluster:
        await self._astart()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._astop()
        self._remove_owned_root()

    def start(self) -> LocalCluster:
        """Start serving from a background thread with its own event loop; return self.

        Raises:
            RuntimeError: when already started.
            OSError: when a port cannot be bound.
        """
        if self._thread is not None:
            raise RuntimeError("LocalCluster is already started")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_run_loop, args=(loop,), name="aisloader-emu", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        _LOOPS.add(loop)
        try:
            asyncio.run_coroutine_threadsafe(self._astart(), loop).result(_START_TIMEOUT)
        except BaseException:
            self._stop_thread()
            raise
        return self

    def stop(self) -> None:
        """Stop serving, end the loop thread and remove a temporary root. Idempotent."""
        if self._loop is not None and self._thread is not None:
            fut = asyncio.run_coroutine_threadsafe(self._astop(), self._loop)
            fut.result(_START_TIMEOUT)
            self._stop_thread()
        self._remove_owned_root()

    def _stop_thread(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()

    def _remove_owned_root(self) -> None:
        if self._owned_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _socket_fds(self) -> set[int]:
        """Descriptors of every listening and open socket (for the fork hook; never raises)."""
        fds: set[int] = set()
        with contextlib.suppress(Exception):  # a copy taken mid-update: keep what was read
            for runner in list(self._runners):
                for site in list(runner.sites):
                    server = getattr(site, "_server", None)  # aiohttp keeps no public handle
                    fds.update(sock.fileno() for sock in getattr(server, "sockets", ()))
                handler = runner.server
                for conn in list(handler.connections) if handler is not None else []:
                    sock = conn.transport.get_extra_info("socket") if conn.transport else None
                    fds.add(sock.fileno() if sock is not None else -1)
        return {fd for fd in fds if fd >= 0}

    # ------------------------------------------------------------------ node restarts

    def stop_target(self, index: int) -> None:
        """Stop target ``index`` (0-based): its port refuses connections and its open ones end,
        answers in progress cut short. Other nodes and the store are untouched.

        Raises:
            RuntimeError: when the cluster was not started with `start` (or ``with``), or the
                target is already stopped.
            IndexError: for no such target.
        """
        self._on_loop(self._astop_target(index))

    def start_target(self, index: int) -> None:
        """Serve a target stopped by `stop_target` again, on its old port and the same store.

        Raises:
            RuntimeError: when the cluster was not started with `start`, or the target is not
                stopped.
            IndexError: for no such target.
            OSError: when the port cannot be bound again.
        """
        self._on_loop(self._astart_target(index))

    def restart_target(self, index: int, pause: float = 0.0) -> None:
        """`stop_target`, sleep ``pause`` seconds, `start_target`.

        Raises:
            RuntimeError, IndexError, OSError: as `stop_target` and `start_target`.
        """
        self.stop_target(index)
        threading.Event().wait(pause)
        self.start_target(index)

    def _on_loop(self, coro: Coroutine[object, object, None]) -> None:
        loop = self._loop
        if loop is None or not self._runners:
            coro.close()
            raise RuntimeError("LocalCluster is not started (use start() or `with`)")
        asyncio.run_coroutine_threadsafe(coro, loop).result(_START_TIMEOUT)

    def _target_slot(self, index: int) -> int:
        if not 0 <= index < len(self._shared.targets):
            raise IndexError(f"no target {index}: the cluster has {len(self._shared.targets)}")
        return index + 1  # the proxy is runner 0

    async def _astop_target(self, index: int) -> None:
        slot = self._target_slot(index)
        if index in self._stopped:
            raise RuntimeError(f"target {index} is already stopped")
        runner = self._runners[slot]
        self._stopped[index] = runner
        for site in list(runner.sites):  # stop listening
            await site.stop()
        if runner.server is not None:  # cut every connection, as a crashed daemon would
            for conn in list(runner.server.connections):
                if conn.transport is not None:
                    conn.transport.abort()
        await runner.cleanup()

    async def _astart_target(self, index: int) -> None:
        slot = self._target_slot(index)
        if index not in self._stopped:
            raise RuntimeError(f"target {index} is not stopped")
        node = self._shared.targets[index]
        port = int(node.url.rpartition(":")[2])
        self._runners[slot] = await self._serve(node, port)
        del self._stopped[index]

    # ------------------------------------------------------------------ direct API

    def create_bucket(self, name: str, provider: str = "ais") -> None:
        """Create a bucket directly (thread-safe; no error when it exists).

        Raises:
            ValueError: for an invalid bucket name or provider.
        """
        self._shared.store.create_bucket(_bucket(name, provider))

    def put_object(self, bucket: str, name: str, data: bytes, provider: str = "ais") -> None:
        """Write an object straight to storage, creating the bucket (thread-safe).

        Raises:
            ValueError: for an invalid bucket or object name, or a name conflict.
        """
        b = _bucket(bucket, provider)
        store = self._shared.store
        store.create_bucket(b)
        try:
            store.put_bytes(b, name, data)
        except Exception as e:
            raise ValueError(str(e)) from e

    def set_faults(self, faults: Sequence[Fault], seed: int = 0) -> None:
        """Replace the fault rules (thread-safe; takes effect for the next request)."""
        self._shared.faults.set(faults, seed)

    def clear_faults(self) -> None:
        """Remove all fault rules."""
        self._shared.faults.clear()

    def register_etl(self, name: str, fn: Callable[[bytes, str | None], bytes]) -> None:
        """Register ``fn`` as the ETL ``name`` on every node (thread-safe, also while serving).

        ``fn(data, etl_args)`` gets the whole object (or archive member) and the raw
        ``etl_args`` query value (None when absent) and returns the bytes to send. It runs in a
        worker thread, possibly several calls at once. Raising
        `aisloader.server.EtlArgsError` answers 400; any other exception answers 500.

        Names are 1 to 32 characters of ``[a-z0-9-]``, not starting with ``-`` (AIS also
        wants at least 6; the built-ins ``echo``, ``upper``, ``md5``, ``prefix`` are shorter).

        Raises:
            ValueError: for an invalid name, or one already registered (built-ins included).
            TypeError: when ``fn`` is not callable.
        """
        self._shared.etls.register(name, fn)

    def unregister_etl(self, name: str) -> None:
        """Remove the ETL ``name`` (a built-in too); GETs naming it then answer 404.

        Raises:
            KeyError: when no ETL of that name is registered.
        """
        self._shared.etls.unregister(name)

    def stats(self) -> dict[str, int]:
        """Counters: ``{role}.{METHOD}`` requests, ``proxy.redirects``, ``faults.{kind}``,
        ``etl.calls`` (transforms applied) and ``etl.errors`` (ETL calls that failed)."""
        out = {"etl.calls": 0, "etl.errors": 0} | self._shared.stats.snapshot()
        snap = self._shared.faults.snapshot()
        out |= {f"faults.{k}": v for k, v in snap["injected_by_kind"].items()}
        return out


def _bucket(name: str, provider: str) -> BucketId:
    try:
        return parse_bucket(name, provider)
    except Exception as e:
        raise ValueError(str(e)) from e


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
