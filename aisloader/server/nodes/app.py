"""The aiohttp side every node shares: the middleware, the common routes and `make_app`.

`NodeMiddleware` counts each request, injects the fault the engine chose for it, and renders
every error as AIS does (`EmuError` → ``cmn.ErrHTTP`` JSON; any other exception too, so no
request ever reaches aiohttp's text 500 page or its traceback log). `CommonHandlers` serves
health and the cluster map on every node. `bucket_of` reads the bucket a request addresses.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from io import BytesIO

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from aisloader.server.errors import EmuError, clip, error_response
from aisloader.server.faults import Fault, fault_key
from aisloader.server.names import BucketId, parse_bucket
from aisloader.server.nodes.delivery import CURRENT_FAULT, Body, abort_connection, send_body
from aisloader.server.nodes.state import Node, Shared, snode

__all__ = ["CommonHandlers", "NodeMiddleware", "bucket_of", "check_access", "make_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_log = logging.getLogger("aisloader.server")
MAX_LINE = 1 << 16  # longest request line or header field a node reads
_REDIRECTED = ("/v1/objects/", "/v1/ml/moss")  # paths the proxy answers with a bodiless redirect


def bucket_of(request: web.Request) -> BucketId:
    """The bucket addressed by the URL path and the ``provider``/``namespace`` query.

    Raises:
        EmuError: 400 for a bad bucket name, provider or namespace.
    """
    q = request.query
    return parse_bucket(request.match_info["bucket"], q.get("provider", ""), q.get("namespace", ""))


def check_access(request: web.Request, token: str, node: Node) -> None:
    """AuthN as AIS does it: the proxy checks the bearer token (health is open to all);
    a target serves objects only to requests the proxy redirected (the redirect marker).

    Raises:
        EmuError: 401 for a missing or wrong token at the proxy, 403 for direct target access.
    """
    if node.role == "proxy":
        if request.path == "/v1/health":
            return
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if not value:
            raise EmuError(401, f"{node.label}: token required")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.encode(errors="replace"), token.encode()
        ):
            raise EmuError(401, f"{node.label}: invalid token")
    elif request.path.startswith("/v1/objects/") and not (
        "pid" in request.query and "utm" in request.query
    ):
        raise EmuError(403, f"{node.label}: direct target access denied")


def _answer_started(request: web.Request) -> bool:
    """The client left, or part of an answer is already out (no error answer can follow)."""
    transport = request.transport
    return transport is None or transport.is_closing() or request.writer.output_size > 0


def _reason(e: Exception) -> str:
    """What went wrong, without ``str(e)`` (for an ``OSError``, it names the file)."""
    strerror = e.strerror if isinstance(e, OSError) else None
    return strerror or type(e).__name__


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
            if shared.auth_token is not None:
                check_access(request, shared.auth_token, self._node)
            if shared.faults.active and not request.path.startswith("/v1/_emu/"):
                return await self._with_faults(request, handler)
            return await handler(request)
        except EmuError as e:
            if _answer_started(request):  # e.g. a corrupt archive member, found mid-body
                return self._cut(request, logging.WARNING, e.message)
            return error_response(request, e, label)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            return error_response(request, EmuError(e.status, e.reason), label)
        except Exception as e:  # every failure is answered here, as AIS would
            return self._failed(request, e)

    def _failed(self, request: web.Request, e: Exception) -> web.StreamResponse:
        """Answer a failure that is not an `EmuError`.

        Never re-raised: aiohttp would log a traceback (also for a client that merely went
        away) and answer a text page. The message names the request, never the file (an
        ``OSError``'s text holds the absolute path under the store root).
        """
        label, what = self._node.label, f"{request.method} {clip(request.path)}"
        if _answer_started(request):
            level = logging.DEBUG if isinstance(e, ConnectionError) else logging.WARNING
            return self._cut(request, level, _reason(e))
        if isinstance(e, OSError) and e.errno == errno.ENAMETOOLONG:
            err = EmuError(400, f"{label}: {what}: a name in the request is too long")
        elif isinstance(e, OSError):  # disk trouble: an AIS-style 500, not aiohttp's text page
            err = EmuError(500, f"{label}: I/O error on {what}: {_reason(e)}")
        else:  # a bug: the traceback goes to the log, never into the answer
            _log.error("%s: %s failed", label, what, exc_info=e)
            err = EmuError(500, f"{label}: internal error on {what} ({type(e).__name__})")
        return error_response(request, err, label)

    def _cut(self, request: web.Request, level: int, why: str) -> web.StreamResponse:
        """End an answer that cannot go on (the client left, or part of it is already out and
        an error cannot follow): one log line, the connection closed, as AIS cuts a stream."""
        what = f"{request.method} {clip(request.path)}"
        _log.log(level, "%s: %s: answer cut short (%s)", self._node.label, what, why)
        abort_connection(request, reset=False)
        return web.Response()  # aiohttp fails to send it and drops the connection quietly

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
        raise EmuError(400, f'{label}: unsupported "what={clip(what)}" (the emulator serves smap)')

    def routes(self) -> list[web.RouteDef]:
        """The route table."""
        return [
            web.get("/v1/health", self.health),
            web.get("/v1/daemon", self.daemon),
            web.get("/v1/daemon/", self.daemon),
        ]


class _BadHttpFilter(logging.Filter):
    """Turns aiohttp's ERROR traceback for a request it cannot parse (not HTTP, a line past
    the limits) into one debug line: that is the client's error, answered 400 by aiohttp."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            _log.debug("%s: %s", record.getMessage(), clip(str(exc).replace("\n", " "), 200))
            return False
        return True


_http_log = logging.getLogger("aisloader.server.http")  # aiohttp's own server log, for us
_http_log.addFilter(_BadHttpFilter())
# Go's server reads up to 1 MiB of headers; aiohttp's 8 KiB would refuse long (valid) URLs
# before the route answers them with AIS's error JSON.
_HANDLER_ARGS = {"logger": _http_log, "max_line_size": MAX_LINE, "max_field_size": MAX_LINE}


def make_app(shared: Shared, node: Node, routes: list[web.RouteDef]) -> web.Application:
    """The aiohttp application of one node: common routes plus the role's own."""
    app = web.Application(
        middlewares=[NodeMiddleware(shared, node)],
        client_max_size=1 << 20,
        handler_args=_HANDLER_ARGS,
    )
    app.add_routes(CommonHandlers(shared, node).routes() + routes)
    return app
