"""The proxy (gateway): cluster map, buckets, list-objects, object redirects, admin routes.

`ProxyHandlers` serves the AIS routes, `AdminHandlers` the emulator's own ``/v1/_emu/faults``.
The proxy also starts get-batch; that route lives in `aisloader.server.batch.proxy`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from aisloader.server.errors import EmuError, clip
from aisloader.server.faults import parse_faults_body
from aisloader.server.jsonbody import load_json
from aisloader.server.names import BucketId, normalize_provider
from aisloader.server.nodes.app import bucket_of
from aisloader.server.nodes.listing import build_page, encode_page, parse_lso
from aisloader.server.nodes.state import Shared

__all__ = ["AdminHandlers", "ProxyHandlers", "redirect_marker"]

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_OBJECT = "/v1/objects/{bucket}/{obj:.+}"


def _base36(n: int) -> str:
    out = []
    while True:
        n, r = divmod(n, 36)
        out.append(_B36[r])
        if not n:
            return "".join(reversed(out))


def redirect_marker(pid: str) -> str:
    """The query a proxy adds to a redirect: ``pid={pid}&utm={now in ns, base 36}``."""
    return f"pid={pid}&utm={_base36(time.time_ns())}"


async def _action(request: web.Request) -> tuple[str, Any]:
    """``(action, value)`` of a bucket request's ActMsg body (``("", None)`` when empty).

    Raises:
        EmuError: 400 when the body is not a JSON object or its action is not a string.
    """
    raw = await request.read()
    if not raw.strip():
        return "", None
    msg = load_json(raw, "action message")
    action = msg.get("action") if isinstance(msg, dict) else None
    if not isinstance(msg, dict) or not isinstance(action, str | None):
        raise EmuError(400, 'invalid action message: expected {"action": "...", "value": ...}')
    return action or "", msg.get("value")


# Bucket actions AIS performs (``apc/actmsg.go``) that the emulator does not: 501 ErrNotImpl.
# Any other action is AIS's own answer, a 400 "invalid action".
_AIS_ACTIONS = {
    "POST": frozenset(
        {"copy-bck", "etl-bck", "move-bck", "make-n-copies", "ec-encode", "archive", "rechunk"}
        | {"copy-listrange", "etl-listrange", "prefetch-listrange", "summary-bck"}
        | {"create-inventory", "blob-download", "reset-bprops", "add-remote-bck"}
    ),
    "DELETE": frozenset({"evict-remote-bck", "delete-listrange", "evict-listrange"}),
}


def _unsupported(request: web.Request, action: str, b: BucketId) -> EmuError:
    """501 for an AIS action the emulator does not perform, 400 for an unknown one."""
    if action in _AIS_ACTIONS.get(request.method, ()):
        msg = f'action "{action}" on {b.display} is not implemented by the emulator'
        return EmuError(501, msg, "ErrNotImpl")
    return EmuError(400, f'invalid action "{clip(action)}" on {b.display} ({request.method})')


def _ns_json(b: BucketId) -> dict[str, str]:
    uuid, _, name = b.ns.removeprefix("@").partition("#")
    return {"uuid": uuid, "name": name}


class ProxyHandlers:
    """The proxy's AIS routes; `routes` is the table."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self._store = shared.store

    async def redirect_object(self, request: web.Request) -> web.Response:
        """Any object request: 301 (GET) or 307 to the HRW owner, with the redirect marker.

        Raises:
            EmuError: 404 missing bucket, 400 bad name (answered at the proxy).
        """
        b = bucket_of(request)
        name = request.match_info["obj"]
        self._store.object_path(b, name)
        target = self._shared.owner(b, name)
        url = request.rel_url
        query = url.raw_query_string
        marker = redirect_marker(self._shared.proxy.daemon_id)
        loc = f"{target.url}{url.raw_path}?{query + '&' if query else ''}{marker}"
        status = 301 if request.method == "GET" else 307
        self._shared.stats.incr("proxy.redirects")
        return web.Response(status=status, headers={"Location": loc})

    async def get_cluster(self, request: web.Request) -> web.Response:
        """``GET /v1/cluster?what=smap``.

        Raises:
            EmuError: 400 for any other ``what``.
        """
        if request.query.get("what") != "smap":
            raise EmuError(400, f'unsupported "what={request.query.get("what", "")}"')
        return web.Response(body=self._shared.smap_json, content_type="application/json")

    async def list_buckets(self, request: web.Request) -> web.Response:
        """``GET /v1/buckets[?provider=p]``: the buckets as JSON."""
        prov = request.query.get("provider", "")
        provider = normalize_provider(prov) if prov else ""
        out = [
            {"name": b.name, "provider": b.provider, "namespace": _ns_json(b)}
            for b in self._store.buckets(provider)
        ]
        return web.json_response(out)

    async def list_objects(self, request: web.Request) -> web.Response:
        """``GET /v1/buckets/{bucket}`` with a list ActMsg: one page, msgpack or JSON.

        Raises:
            EmuError: 404 missing bucket, 400 bad request.
        """
        b = bucket_of(request)
        shared, store = self._shared, self._store
        store.bucket_dir(b)
        msg = parse_lso(await request.read())
        page = await asyncio.to_thread(
            build_page, store, shared.archives, b, msg, lambda n: shared.owner(b, n).daemon_id
        )
        body, ctype = encode_page(page, "application/msgpack" in request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": ctype})

    async def head_bucket(self, request: web.Request) -> web.Response:
        """``HEAD /v1/buckets/{bucket}``: the ``Ais-Bucket-Props`` header."""
        b = bucket_of(request)
        props = json.dumps(self._store.bucket_props(b), separators=(",", ":"))
        return web.Response(headers={"Ais-Bucket-Props": props})

    async def post_bucket(self, request: web.Request) -> web.Response:
        """``POST /v1/buckets/{bucket}`` with ``create-bck``.

        Raises:
            EmuError: 409 when it exists, 501 for another AIS action, 400 for an unknown one.
        """
        b = bucket_of(request)
        action, _ = await _action(request)
        if action != "create-bck":
            raise _unsupported(request, action, b)
        if not self._store.create_bucket(b):
            raise EmuError(409, f'bucket "{b.display}" already exists', "ErrBucketAlreadyExists")
        return web.Response()

    async def delete_bucket(self, request: web.Request) -> web.Response:
        """``DELETE /v1/buckets/{bucket}`` (``destroy-bck`` or no action).

        Raises:
            EmuError: 404 missing bucket, 501 for another AIS action, 400 for an unknown one.
        """
        b = bucket_of(request)
        action, _ = await _action(request)
        if action not in ("", "destroy-bck"):
            raise _unsupported(request, action, b)
        self._store.bucket_dir(b)
        await asyncio.to_thread(self._store.destroy_bucket, b)
        return web.Response()

    def routes(self) -> list[web.RouteDef]:
        """The route table."""
        return [
            web.get("/v1/cluster", self.get_cluster),
            web.get("/v1/buckets", self.list_buckets),
            web.get("/v1/buckets/", self.list_buckets),
            web.get("/v1/buckets/{bucket}", self.list_objects, allow_head=False),
            web.head("/v1/buckets/{bucket}", self.head_bucket),
            web.head("/v1/buckets/{bucket}/{prefix:.*}", self.head_bucket),
            web.post("/v1/buckets/{bucket}", self.post_bucket),
            web.delete("/v1/buckets/{bucket}", self.delete_bucket),
            web.get(_OBJECT, self.redirect_object, allow_head=False),
            *(
                web.route(m, _OBJECT, self.redirect_object)
                for m in ("HEAD", "PUT", "DELETE", "PATCH")
            ),
        ]


class AdminHandlers:
    """The emulator's own routes on the proxy: read, replace and clear the fault rules."""

    def __init__(self, shared: Shared) -> None:
        self._faults = shared.faults

    async def get_faults(self, request: web.Request) -> web.Response:
        """``GET /v1/_emu/faults``: rules and counters."""
        return web.json_response(self._faults.snapshot())

    async def put_faults(self, request: web.Request) -> web.Response:
        """``PUT /v1/_emu/faults`` with ``{"seed": int, "faults": [...]}``.

        Raises:
            EmuError: 400 for invalid rules.
        """
        raw = await request.read()
        body = load_json(raw, "fault rules") if raw.strip() else {}
        try:
            faults, seed = parse_faults_body(body)
        except (ValueError, TypeError) as e:
            raise EmuError(400, f"invalid fault rules: {e}") from None
        self._faults.set(faults, seed)
        return web.json_response(self._faults.snapshot())

    async def delete_faults(self, request: web.Request) -> web.Response:
        """``DELETE /v1/_emu/faults``: remove every rule."""
        self._faults.clear()
        return web.json_response(self._faults.snapshot())

    def routes(self) -> list[web.RouteDef]:
        """The route table."""
        return [
            web.get("/v1/_emu/faults", self.get_faults),
            web.put("/v1/_emu/faults", self.put_faults),
            web.delete("/v1/_emu/faults", self.delete_faults),
        ]
