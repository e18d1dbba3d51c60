"""The aiohttp side every node shares: the middleware, the common routes and `make_app`.

`NodeMiddleware` counts each request, injects the fault the engine chose for it, and renders
every error as AIS does (`EmuError` → ``cmn.ErrHTTP`` JSON). `CommonHandlers` serves health and
the cluster map on every node. `bucket_of` reads the bucket a request addresses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from io import BytesIO

from aiohttp import web

from aisloader.server.errors import EmuError, error_response
from aisloader.server.faults import Fault, fault_key
from aisloader.server.names import BucketId, parse_bucket
from aisloader.server.nodes.delivery import CURRENT_FAULT, Body, send_body
from aisloader.server.nodes.state import Node, Shared, snode

__all__ = ["CommonHandlers", "NodeMiddleware", "bucket_of", "make_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REDIRECTED = ("/v1/objects/", "/v1/ml/moss")  # paths the proxy answers with a bodiless redirect


def bucket_of(request: web.Request) -> BucketId:
    """The bucket addressed by the URL path and the ``provider``/``namespace`` query.

    Raises:
        EmuError: 400 for a bad bucket name, provider or namespace.
    """
    q = request.query
    return parse_bucket(request.match_info["bucket"], q.get("provider", ""), q.get("namespace", ""))


class NodeMiddleware:
    """One node's middleware: count the request, inject a fault, answer errors as AIS does."""

    __middleware_version__ = 1  # what ``@web.middleware`` marks: a new-style middleware

    def __init__(self, shared: Shared, node: Node) -> None:
        self._shared = shared
        self._node = node

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        shared, label = self._shared, self._node.label
        shared.stats.incr(f"{self._node.role}.{request.method}")
        try:
            if shared.faults.active and not request.path.startswith("/v1/_emu/"):
                return await self._with_faults(request, handler)
            return await handler(request)
        except EmuError as e:
            return error_response(request, e, label)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            return error_response(request, EmuError(e.status, e.reason), label)
        except ConnectionError:
            raise  # the client went away: nothing to answer
        except OSError as e:  # disk trouble: an AIS-style 500, not aiohttp's text page
            return error_response(request, EmuError(500, f"{label}: I/O error: {e}"), label)

    async def _with_faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        faults, role = self._shared.faults, self._node.role
        redirecting = role == "proxy" and request.path.startswith(_REDIRECTED)
        url = request.rel_url
        key = fault_key(request.method, url.raw_path, url.raw_query_string)
        decision = faults.decide(role, request.method, key, request.path, redirecting)
        if decision is None:
            return await handler(request)
        index, fault = decision
        if fault.kind == "status":
            faults.note_injected(index, "status")
            tcode = "ErrTooManyRequests" if fault.status == 429 else ""
            raise EmuError(fault.status, f"emulated fault: {fault.status} on {request.path}", tcode)
        if fault.kind == "latency":
            faults.note_injected(index, "latency")
            await asyncio.sleep(fault.delay)
            return await handler(request)
        return await self._with_body_fault(request, handler, decision)

    async def _with_body_fault(
        self, request: web.Request, handler: Handler, decision: tuple[int, Fault]
    ) -> web.StreamResponse:
        """Mark the fault for `send_body`; apply it here to a plain answer that did not use it."""
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
                self._shared.faults.note_injected,
            )
        finally:
            CURRENT_FAULT.reset(token)


class CommonHandlers:
    """Routes every node serves: health and the cluster map."""

    def __init__(self, shared: Shared, node: Node) -> None:
        self._shared = shared
        self._node = node

    async def health(self, request: web.Request) -> web.Response:
        """``GET /v1/health``: 200 with the uptime headers."""
        up = str(time.time_ns() - self._shared.started_ns)
        return web.Response(headers={"Ais-Node-Uptime": up, "Ais-Cluster-Uptime": up})

    async def daemon(self, request: web.Request) -> web.Response:
        """``GET /v1/daemon?what=smap|snode``.

        Raises:
            EmuError: 400 for any other ``what``.
        """
        what = request.query.get("what", "")
        if what == "smap":
            return web.Response(body=self._shared.smap_json, content_type="application/json")
        if what == "snode":
            return web.json_response(snode(self._node))
        label = self._node.label
        raise EmuError(400, f'{label}: unsupported "what={what}" (the emulator serves smap)')

    def routes(self) -> list[web.RouteDef]:
        """The route table."""
        return [
            web.get("/v1/health", self.health),
            web.get("/v1/daemon", self.daemon),
            web.get("/v1/daemon/", self.daemon),
        ]


def make_app(shared: Shared, node: Node, routes: list[web.RouteDef]) -> web.Application:
    """The aiohttp application of one node: common routes plus the role's own."""
    app = web.Application(middlewares=[NodeMiddleware(shared, node)], client_max_size=1 << 20)
    app.add_routes(CommonHandlers(shared, node).routes() + routes)
    return app
