"""The HTTP layer: one aiohttp session, manual redirects, retries, and error translation.

Every aiohttp exception and every AIS error answer becomes an ``aisloader.errors`` exception
here and nowhere else. Redirects (301/307) are followed by hand: the ``Location`` is taken
verbatim, never cached, and the body is re-sent on 307. Each retry starts again at the proxy
(or at the owning target when direct reads are on).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from aisloader.config import ClientConfig
from aisloader.core.http.direct import Direct
from aisloader.core.http.netfail import (
    cut_short,
    disconnect_hint,
    nothing_listening,
    refused,
    tls_failure,
    transport_error,
)
from aisloader.core.http.payload import Payload
from aisloader.core.http.retry import RETRY_STATUSES, Attempts, RetryPolicy, Stats
from aisloader.core.http.wire import decode_error
from aisloader.errors import AISError, ConfigError, error_from_response

__all__ = ["NETWORK_ERRORS", "Http", "Request", "transport_error"]

NETWORK_ERRORS = (aiohttp.ClientError, OSError)
"""Failures of the connection itself (refused, reset, timeouts, payload cut short)."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_HOPS = 4
REFUSED_GRACE = 1.0
"""Seconds a refused connection to the endpoint is retried before it is reported: enough for a
proxy restart blip, short enough that a wrong URL or a stopped cluster is said at once."""
_ERR_BODY_MAX = 64 << 10


@dataclass(slots=True)
class Request:
    """One logical request (all its hops and attempts).

    Attributes:
        method: HTTP method.
        path: percent-encoded URL path (sent as is).
        about: ``ais://bucket[/object]`` named in errors.
        about_object: the request addresses an object (a bare 404 means the object).
        params: query parameters.
        headers: extra request headers (sent on every hop).
        body: small control-plane body, re-sent on every hop.
        payload: object PUT body: sent only to the redirect target (two-phase PUT).
        uname: HRW name when a direct read is allowed ('' = always via the proxy).
    """

    method: str
    path: str
    about: str
    about_object: bool = False
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    payload: Payload | None = None
    uname: str = ""


class Http:
    """The session, the retry loop and the error translation of one client."""

    def __init__(self, endpoint: str, config: ClientConfig) -> None:
        self.endpoint = endpoint
        self.config = config
        self.stats = Stats()
        self.policy = RetryPolicy.from_config(config)
        self.direct = Direct(self._load_smap) if config.direct_reads else None
        self._session: aiohttp.ClientSession | None = None
        self._auth = {"Authorization": f"Bearer {config.token}"} if config.token else {}

    def __repr__(self) -> str:
        return f"Http({self.endpoint!r})"

    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use inside the running loop.

        Raises:
            ConfigError: the TLS files cannot be loaded.
        """
        if self._session is None or self._session.closed:
            self._session = _make_session(self.config)
        return self._session

    async def aclose(self) -> None:
        """Close the session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def attempts(self) -> Attempts:
        """Fresh retry state for one operation."""
        return Attempts(self.policy, self.stats)

    async def send(self, req: Request, attempts: Attempts) -> aiohttp.ClientResponse:
        """Send ``req`` until a 2xx answer; the caller reads and releases it.

        Raises:
            AISError: an error answer (typed), or 429/5xx once the budget is spent.
            TransportError: network failures once the budget is spent.
        """
        direct = bool(req.uname) and self.direct is not None
        while True:
            base = await self.direct.target_url(req.uname) if direct and self.direct else None
            try:
                resp = await self._follow(req, base)
            except NETWORK_ERRORS as exc:
                if base is not None and self.direct is not None:
                    if not cut_short(exc):  # not reached (a cut says the target is there)
                        self.direct.failed(None)
                    direct = False  # this request: through the proxy at once
                    continue
                await self._network_failure(exc, req, attempts)
                continue
            if base is not None and self.direct is not None:
                self.direct.succeeded()
            if resp.status < 300:
                return resp
            err = await self._error(resp, req)
            if base is not None and self.direct is not None and resp.status in (401, 403, 404):
                self.direct.failed(resp.status)
                direct = False
                continue
            if resp.status not in RETRY_STATUSES:
                raise err
            await _again(attempts, req, err)

    async def _network_failure(self, exc: BaseException, req: Request, attempts: Attempts) -> None:
        """Wait for the next attempt, or raise: a refused endpoint is reported after
        :data:`REFUSED_GRACE` seconds; resets and timeouts use the whole retry budget."""
        tls = tls_failure(exc, self.endpoint, req.about)
        if tls is not None:
            raise tls
        if refused(exc, self.endpoint):
            err = nothing_listening(exc, self.endpoint, req.about, attempts.number)
            if attempts.elapsed >= REFUSED_GRACE:
                err.add_note(f"gave up after {attempts.number} attempt(s)")
                raise err
            await _again(attempts, req, err)
            return
        hint = disconnect_hint(exc, self.endpoint, self.config)
        err = transport_error(exc, req.about, attempts.number, hint)
        await _again(attempts, req, err, at_once=cut_short(exc))

    async def fetch(self, req: Request) -> tuple[aiohttp.ClientResponse, bytes]:
        """Send ``req`` and read its whole (small) body, retrying cut-short bodies.

        Raises:
            AISError: see :meth:`send`.
            TransportError: see :meth:`send`.
        """
        attempts = self.attempts()
        while True:
            resp = await self.send(req, attempts)
            try:
                return resp, await resp.read()
            except NETWORK_ERRORS as exc:
                err = transport_error(exc, req.about, attempts.number)
                await attempts.again(err, at_once=cut_short(exc))
            finally:
                resp.release()

    async def _follow(self, req: Request, base: str | None) -> aiohttp.ClientResponse:
        session = self.session()
        query = f"?{urlencode(req.params)}" if req.params else ""
        url = URL(f"{base or self.endpoint}{req.path}{query}", encoded=True)
        for hop in range(_MAX_HOPS):
            headers, data = self._hop(req, hop, base is None)
            self.stats.requests += 1
            resp = await session.request(
                req.method, url, headers=headers, data=data, allow_redirects=False
            )
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECTS or not location:
                return resp
            await _drain(resp)
            self.stats.redirects += 1
            url = URL(location, encoded=True)
            if not url.absolute:
                url = resp.url.join(url)
            if req.uname and self.direct is not None:
                self.direct.redirected(req.uname, url)
        raise aiohttp.TooManyRedirects(resp.request_info, resp.history)

    def _hop(self, req: Request, hop: int, via_proxy: bool) -> tuple[dict[str, str], object]:
        headers = dict(req.headers)
        if hop == 0 and via_proxy:
            headers.update(self._auth)
        payload = req.payload
        if payload is None:
            return headers, req.body
        if payload.length is not None:
            headers["Content-Length"] = str(payload.length)
        if hop == 0 and via_proxy:  # two-phase PUT: declare the length, send no body
            headers.setdefault("Content-Length", "0")
            headers["Connection"] = "close"
            return headers, None
        return headers, payload.body()

    async def _error(self, resp: aiohttp.ClientResponse, req: Request) -> AISError:
        try:
            if req.method == "HEAD":
                raw: bytes | str = resp.headers.get("Hdr-Error", "")
            else:
                raw = await resp.content.read(_ERR_BODY_MAX)
        except NETWORK_ERRORS:
            raw = b""
        finally:
            resp.release()
        body = decode_error(raw) if raw else None
        tcode, message = (body.tcode, body.message) if body else ("", "")
        return error_from_response(
            resp.status, tcode, req.about, message, about_object=req.about_object
        )

    async def _load_smap(self) -> bytes:
        req = Request("GET", "/v1/daemon", "cluster map", params={"what": "smap"})
        _, raw = await self.fetch(req)
        return raw


async def _again(
    attempts: Attempts, req: Request, err: Exception, *, at_once: bool = False
) -> None:
    if req.payload is not None and not req.payload.rewindable:
        err.add_note("not retried: the async-iterable body was already sent")
        raise err
    await attempts.again(err, at_once=at_once)


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read a redirect's tiny body so the connection can be reused."""
    try:
        if (resp.content_length or 0) <= _ERR_BODY_MAX:
            await resp.read()
    except NETWORK_ERRORS:
        pass
    finally:
        resp.release()


def _make_session(config: ClientConfig) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=0,
        limit_per_host=config.pool_size,
        keepalive_timeout=config.keepalive_timeout,
        ssl=_ssl_context(config),
    )
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=config.connect_timeout or None,
        sock_read=config.read_timeout or None,
    )
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False, raise_for_status=False
    )


def _ssl_context(config: ClientConfig) -> ssl.SSLContext | bool:
    if not (config.ca_bundle or config.client_cert or config.skip_verify):
        return True
    try:
        ctx = ssl.create_default_context(cafile=config.ca_bundle)
        if config.client_cert and config.client_key:
            ctx.load_cert_chain(config.client_cert, config.client_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS files (AIS_CLIENT_CA/AIS_CRT): {exc}") from exc
    if config.skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
