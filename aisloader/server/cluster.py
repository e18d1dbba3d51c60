"""`LocalCluster`: a proxy and N targets on loopback ports, all served by one event loop.

This is where the pieces meet: each node gets an aiohttp app (`nodes.app.make_app`) whose
routes are its role's handler classes, the proxy's `ProxyHandlers` + `AdminHandlers` +
`BatchProxyHandlers` or a target's `TargetHandlers` + `BatchTargetHandlers`, over one `Shared`
state and one get-batch `BatchState`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Sequence
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


def _quiet_inherited_tasks() -> None:
    """In a forked child (e.g. a DataLoader worker), the emulator's loop is a dead copy: its
    server tasks will never run, so do not report them as "destroyed but pending" at exit."""
    for loop in list(_LOOPS):
        for task in asyncio.all_tasks(loop):
            task._log_destroy_pending = False  # type: ignore[attr-defined]


os.register_at_fork(after_in_child=_quiet_inherited_tasks)


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    async def _astart(self) -> None:
        sh = self._shared
        nodes = [(sh.proxy, self.port), *((t, 0) for t in sh.targets)]
        try:
            for node, port in nodes:
                app = make_app(sh, node, self._routes(node))
                runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
                await runner.setup()
                self._runners.append(runner)
                site = web.TCPSite(runner, self.host, port, backlog=_BACKLOG)
                await site.start()
                node.url = _url(self.host, runner.addresses[0][1])
        except BaseException:
            await self._astop()
            raise
        sh.build_smap()
        self.endpoint = sh.proxy.url
        self.target_endpoints = [t.url for t in sh.targets]

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
        for runner in reversed(runners):
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
