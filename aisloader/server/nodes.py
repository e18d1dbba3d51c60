"""What every node shares: cluster state, the smap, the middleware and the common routes."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from io import BytesIO

from aiohttp import web
from aiohttp.typedefs import Middleware

from aisloader.server import hrw
from aisloader.server.archive import ArchiveIndex
from aisloader.server.delivery import CURRENT_FAULT, Body, send_body
from aisloader.server.errors import EmuError, error_response
from aisloader.server.faults import FaultEngine
from aisloader.server.mosswork import WorkRegistry, fault_path
from aisloader.server.names import BucketId, parse_bucket
from aisloader.server.store import Store

__all__ = ["Node", "Shared", "bucket_of", "make_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Stats:
    """Thread-safe request counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def incr(self, key: str, n: int = 1) -> None:
        """Add ``n`` to counter ``key``."""
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + n

    def snapshot(self) -> dict[str, int]:
        """A copy of all counters."""
        with self._lock:
            return dict(self._counts)


@dataclass
class Node:
    """One daemon: its ID, role and (once started) public URL."""

    daemon_id: str
    role: str  # "proxy" or "target"
    url: str = ""

    @property
    def digest(self) -> int:
        """``id_digest`` as sent in the smap."""
        return hrw.digest(self.daemon_id)

    @property
    def label(self) -> str:
        """``p[ID]`` or ``t[ID]`` as AIS error messages name nodes."""
        return f"{self.daemon_id[0]}[{self.daemon_id}]"


@dataclass
class Shared:
    """State shared by the proxy and all targets (one event loop, one store)."""

    store: Store
    proxy: Node
    targets: list[Node]
    seed: int = 0
    archives: ArchiveIndex = field(default_factory=ArchiveIndex)
    faults: FaultEngine = field(default_factory=FaultEngine)
    stats: Stats = field(default_factory=Stats)
    started_ns: int = field(default_factory=time.time_ns)
    smap_json: bytes = b"{}"
    get_batch: bool = True  # serve /v1/ml/moss (else 501 ErrNotImpl)
    moss_work: WorkRegistry = field(default_factory=WorkRegistry)

    def __post_init__(self) -> None:
        self.moss_work.seed = self.seed

    def owner(self, b: BucketId, obj: str) -> Node:
        """The HRW owner of ``obj`` in ``b``."""
        tid = hrw.owner(b.uname(obj), ((t.daemon_id, t.digest) for t in self.targets))
        return next(t for t in self.targets if t.daemon_id == tid)

    def build_smap(self) -> None:
        """Render the smap JSON (section 2.2) once all URLs are known."""
        snode = {n.daemon_id: _snode(n) for n in [self.proxy, *self.targets]}
        smap = {
            "pmap": {self.proxy.daemon_id: snode[self.proxy.daemon_id]},
            "proxy_si": snode[self.proxy.daemon_id],
            "tmap": {t.daemon_id: snode[t.daemon_id] for t in self.targets},
            "uuid": hrw.make_daemon_id("c", self.seed, 0)[1:] + "emu",
            "creation_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.started_ns / 1e9)),
            "version": "3",
        }
        self.smap_json = json.dumps(smap).encode()


def _snode(n: Node) -> dict[str, object]:
    host, _, port = n.url.removeprefix("http://").rpartition(":")
    net = {"node_ip_addr": host.strip("[]"), "daemon_port": port, "direct_url": n.url}
    return {
        "public_net": net,
        "intra_control_net": dict(net),
        "intra_data_net": dict(net),
        "daemon_type": n.role,
        "daemon_id": n.daemon_id,
        "flags": 0,
        "id_digest": n.digest,
    }


def bucket_of(request: web.Request) -> BucketId:
    """The bucket addressed by the URL path and the ``provider``/``namespace`` query.

    Raises:
        EmuError: 400 for a bad bucket name, provider or namespace.
    """
    q = request.query
    return parse_bucket(request.match_info["bucket"], q.get("provider", ""), q.get("namespace", ""))


def _fault_key(request: web.Request) -> str:
    query = request.rel_url.raw_query_string
    marker = ("pid=", "utm=", "tid=")
    kept = "&".join(p for p in query.split("&") if p and not p.startswith(marker))
    return f"{request.method} {fault_path(request.rel_url.raw_path)}?{kept}"


def _middleware(shared: Shared, node: Node) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        shared.stats.incr(f"{node.role}.{request.method}")
        try:
            if shared.faults.active and not request.path.startswith("/v1/_emu/"):
                return await _with_faults(shared, node, request, handler)
            return await handler(request)
        except EmuError as e:
            return error_response(request, e, node.label)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            return error_response(request, EmuError(e.status, e.reason), node.label)
        except ConnectionError:
            raise  # the client went away: nothing to answer
        except OSError as e:  # disk trouble: an AIS-style 500, not aiohttp's text page
            return error_response(
                request, EmuError(500, f"{node.label}: I/O error: {e}"), node.label
            )

    return middleware


async def _with_faults(
    shared: Shared, node: Node, request: web.Request, handler: Handler
) -> web.StreamResponse:
    redirecting = node.role == "proxy" and request.path.startswith(("/v1/objects/", "/v1/ml/moss"))
    decision = shared.faults.decide(
        node.role, request.method, _fault_key(request), request.path, redirecting
    )
    if decision is None:
        return await handler(request)
    index, fault = decision
    if fault.kind == "status":
        shared.faults.note_injected(index, "status")
        tcode = "ErrTooManyRequests" if fault.status == 429 else ""
        raise EmuError(fault.status, f"emulated fault: {fault.status} on {request.path}", tcode)
    if fault.kind == "latency":
        shared.faults.note_injected(index, "latency")
        await asyncio.sleep(fault.delay)
        return await handler(request)
    token = CURRENT_FAULT.set(decision)
    try:
        resp = await handler(request)
        if CURRENT_FAULT.get() is None or request.method == "HEAD":
            return resp
        body = resp.body if isinstance(resp, web.Response) and not resp.prepared else None
        if not isinstance(body, bytes) or not body:
            return resp
        headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
        return await send_body(
            request,
            resp.status,
            headers,
            Body(BytesIO(body), len(body)),
            shared.faults.note_injected,
        )
    finally:
        CURRENT_FAULT.reset(token)


def _common_routes(shared: Shared, node: Node) -> list[web.RouteDef]:
    async def health(request: web.Request) -> web.Response:
        up = str(time.time_ns() - shared.started_ns)
        return web.Response(headers={"Ais-Node-Uptime": up, "Ais-Cluster-Uptime": up})

    async def daemon(request: web.Request) -> web.Response:
        what = request.query.get("what", "")
        if what == "smap":
            return web.Response(body=shared.smap_json, content_type="application/json")
        if what == "snode":
            return web.json_response(_snode(node))
        raise EmuError(400, f'{node.label}: unsupported "what={what}" (the emulator serves smap)')

    return [
        web.get("/v1/health", health),
        web.get("/v1/daemon", daemon),
        web.get("/v1/daemon/", daemon),
    ]


def make_app(shared: Shared, node: Node, routes: list[web.RouteDef]) -> web.Application:
    """The aiohttp application of one node: common routes plus the role's own."""
    app = web.Application(middlewares=[_middleware(shared, node)], client_max_size=1 << 20)
    app.add_routes(_common_routes(shared, node) + routes)
    return app
