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
import ssl
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType

from aiohttp import web

from aisloader.server import hrw
from aisloader.server.batch.proxy import BatchProxyHandlers
from aisloader.server.batch.routing import BatchState
from aisloader.server.batch.target import BatchTargetHandlers
from aisloader.server.batch.work import WorkRegistry
from aisloader.server.clusterdata import ClusterData
from aisloader.server.nodes.app import make_app
from aisloader.server.nodes.proxy import AdminHandlers, ProxyHandlers
from aisloader.server.nodes.state import Node, Shared
from aisloader.server.nodes.target import TargetHandlers
from aisloader.server.sites import Sites, run_loop
from aisloader.server.store import Store
from aisloader.server.tls import TlsFiles, make_pki, server_context

__all__ = ["LocalCluster"]

_START_TIMEOUT = 30.0


class LocalCluster(ClusterData):
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

    TLS and AuthN: ``https=True`` serves every node over https with a throwaway CA made for
    the cluster (``tls``: its `TlsFiles`; pass your own `TlsFiles` instead to reuse them);
    ``client_certs=True`` also demands a client certificate signed by that CA (mTLS).
    ``auth_token`` turns AuthN on: the proxy answers 401 with AIS's error body unless a
    request carries ``Authorization: Bearer <auth_token>`` (``/v1/health`` stays open), and
    targets refuse object requests the proxy did not redirect (403, as AIS). `client_env`
    gives a client's environment variables.

    Raises:
        ValueError: when ``targets`` < 1, or ``client_certs`` without ``https``.
        RuntimeError: ``https`` without the ``cryptography`` package (``aisloader[tls]``).
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
        https: bool | TlsFiles = False,
        client_certs: bool = False,
        auth_token: str | None = None,
    ) -> None:
        if targets < 1:
            raise ValueError(f"a cluster needs at least one target, got {targets}")
        if client_certs and not https:
            raise ValueError("client_certs=True needs https")
        self._owned_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="aisloader-emu-") if root is None else root)
        self.host, self.port, self.seed = host, port, seed
        self._owned_tls: Path | None = None
        self.tls = self._tls_files(https)
        tls = server_context(self.tls, client_certs) if self.tls is not None else None
        proxy = Node(hrw.make_daemon_id("p", seed, 0), "proxy")
        tnodes = [Node(hrw.make_daemon_id("t", seed, i), "target") for i in range(targets)]
        self._shared = Shared(Store(self.root), proxy, tnodes, seed, auth_token=auth_token)
        self._batch = BatchState(WorkRegistry(seed=seed), enabled=get_batch)
        self.endpoint = ""
        self.target_endpoints: list[str] = []
        self._sites = Sites(host, tls)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LocalCluster({self.endpoint or 'not started'!r})"

    def _tls_files(self, https: bool | TlsFiles) -> TlsFiles | None:
        if isinstance(https, TlsFiles) or not https:
            return https or None
        self._owned_tls = Path(tempfile.mkdtemp(prefix="aisloader-tls-"))
        return make_pki(self._owned_tls, self.host)

    # ------------------------------------------------------------------ lifecycle

    async def _astart(self) -> None:
        sh = self._shared
        nodes = [(sh.proxy, self.port), *((t, 0) for t in sh.targets)]
        try:
            for node, port in nodes:
                node.url = self._sites.url(await self._sites.add(self._app(node), port))
        except BaseException:
            await self._astop()
            raise
        sh.build_smap()
        self.endpoint = sh.proxy.url
        self.target_endpoints = [t.url for t in sh.targets]

    def _app(self, node: Node) -> web.Application:
        return make_app(self._shared, node, self._routes(node))

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
        await self._sites.stop_all()
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
        thread = threading.Thread(target=run_loop, args=(loop,), name="aisloader-emu", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
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
        if self._owned_tls is not None:
            shutil.rmtree(self._owned_tls, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

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
        if loop is None or not self._sites.runners:
            coro.close()
            raise RuntimeError("LocalCluster is not started (use start() or `with`)")
        asyncio.run_coroutine_threadsafe(coro, loop).result(_START_TIMEOUT)

    def _target_slot(self, index: int) -> int:
        if not 0 <= index < len(self._shared.targets):
            raise IndexError(f"no target {index}: the cluster has {len(self._shared.targets)}")
        return index + 1  # the proxy is runner 0

    async def _astop_target(self, index: int) -> None:
        await self._sites.stop(self._target_slot(index), f"target {index}")

    async def _astart_target(self, index: int) -> None:
        slot, node = self._target_slot(index), self._shared.targets[index]
        port = int(node.url.rpartition(":")[2])
        await self._sites.start(slot, self._app(node), port, f"target {index}")

    def client_env(self) -> dict[str, str]:
        """The environment a client of this (started) cluster needs: ``AIS_ENDPOINT``, and
        with TLS ``AIS_CLIENT_CA`` plus, for client certificates, ``AIS_CRT``/``AIS_CRT_KEY``.
        The token, if any, is not in it: it is the caller's to pass (``AIS_AUTHN_TOKEN``)."""
        env = {"AIS_ENDPOINT": self.endpoint}
        if self.tls is not None:
            env["AIS_CLIENT_CA"] = self.tls.ca
            if self._sites.tls is not None and self._sites.tls.verify_mode == ssl.CERT_REQUIRED:
                env |= {"AIS_CRT": self.tls.client_cert, "AIS_CRT_KEY": self.tls.client_key}
        return env
