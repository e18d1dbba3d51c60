"""The proxy (gateway): cluster map, buckets, list-objects, redirects and the admin routes."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from aisloader.server.errors import EmuError
from aisloader.server.faults import parse_faults_body
from aisloader.server.listing import build_page, encode_page, parse_lso
from aisloader.server.moss import moss_proxy_routes
from aisloader.server.names import BucketId, normalize_provider
from aisloader.server.nodes import Shared, bucket_of

__all__ = ["proxy_routes"]

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = []
    while True:
        n, r = divmod(n, 36)
        out.append(_B36[r])
        if not n:
            return "".join(reversed(out))


async def _action(request: web.Request) -> tuple[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return "", None
    try:
        msg = json.loads(raw)
        return str(msg.get("action") or ""), msg.get("value")
    except (ValueError, AttributeError) as e:
        raise EmuError(400, f"invalid JSON action message: {e}") from None


def proxy_routes(shared: Shared) -> list[web.RouteDef]:
    """Routes served by the proxy."""
    store = shared.store
    pid = shared.proxy.daemon_id

    async def redirect(request: web.Request) -> web.Response:
        b = bucket_of(request)
        name = request.match_info["obj"]
        store.object_path(b, name)  # 404 missing bucket, 400 bad name: answered at the proxy
        target = shared.owner(b, name)
        url = request.rel_url
        query = url.raw_query_string
        marker = f"pid={pid}&utm={_base36(time.time_ns())}"
        loc = f"{target.url}{url.raw_path}?{query + '&' if query else ''}{marker}"
        status = 301 if request.method == "GET" else 307
        shared.stats.incr("proxy.redirects")
        return web.Response(status=status, headers={"Location": loc})

    async def list_buckets(request: web.Request) -> web.Response:
        prov = request.query.get("provider", "")
        provider = normalize_provider(prov) if prov else ""
        out = [
            {"name": b.name, "provider": b.provider, "namespace": _ns_json(b)}
            for b in store.buckets(provider)
        ]
        return web.json_response(out)

    async def list_objects(request: web.Request) -> web.Response:
        b = bucket_of(request)
        store.bucket_dir(b)
        msg = parse_lso(await request.read())
        page = await asyncio.to_thread(
            build_page, store, shared.archives, b, msg, lambda n: shared.owner(b, n).daemon_id
        )
        body, ctype = encode_page(page, "application/msgpack" in request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": ctype})

    async def head_bucket(request: web.Request) -> web.Response:
        b = bucket_of(request)
        props = json.dumps(store.bucket_props(b), separators=(",", ":"))
        return web.Response(headers={"Ais-Bucket-Props": props})

    async def post_bucket(request: web.Request) -> web.Response:
        b = bucket_of(request)
        action, _ = await _action(request)
        if action != "create-bck":
            raise EmuError(501, f'action "{action}" on {b.display} is not supported', "ErrNotImpl")
        if not store.create_bucket(b):
            raise EmuError(409, f'bucket "{b.display}" already exists', "ErrBucketAlreadyExists")
        return web.Response()

    async def delete_bucket(request: web.Request) -> web.Response:
        b = bucket_of(request)
        action, _ = await _action(request)
        if action not in ("", "destroy-bck"):
            raise EmuError(501, f'action "{action}" on {b.display} is not supported', "ErrNotImpl")
        store.bucket_dir(b)
        await asyncio.to_thread(store.destroy_bucket, b)
        return web.Response()

    return [
        web.get("/v1/cluster", _cluster(shared)),
        web.get("/v1/buckets", list_buckets),
        web.get("/v1/buckets/", list_buckets),
        web.get("/v1/buckets/{bucket}", list_objects, allow_head=False),
        web.head("/v1/buckets/{bucket}", head_bucket),
        web.head("/v1/buckets/{bucket}/{prefix:.*}", head_bucket),
        web.post("/v1/buckets/{bucket}", post_bucket),
        web.delete("/v1/buckets/{bucket}", delete_bucket),
        web.get("/v1/objects/{bucket}/{obj:.+}", redirect, allow_head=False),
        *(
            web.route(m, "/v1/objects/{bucket}/{obj:.+}", redirect)
            for m in ("HEAD", "PUT", "DELETE", "PATCH")
        ),
        *_admin_routes(shared),
        *moss_proxy_routes(shared),
    ]


def _ns_json(b: BucketId) -> dict[str, str]:
    uuid, _, name = b.ns.removeprefix("@").partition("#")
    return {"uuid": uuid, "name": name}


def _cluster(shared: Shared) -> Any:
    async def cluster(request: web.Request) -> web.Response:
        if request.query.get("what") != "smap":
            raise EmuError(400, f'unsupported "what={request.query.get("what", "")}"')
        return web.Response(body=shared.smap_json, content_type="application/json")

    return cluster


def _admin_routes(shared: Shared) -> list[web.RouteDef]:
    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(shared.faults.snapshot())

    async def put_faults(request: web.Request) -> web.Response:
        try:
            faults, seed = parse_faults_body(json.loads(await request.read() or b"{}"))
        except (ValueError, TypeError) as e:
            raise EmuError(400, f"invalid fault rules: {e}") from None
        shared.faults.set(faults, seed)
        return web.json_response(shared.faults.snapshot())

    async def delete_faults(request: web.Request) -> web.Response:
        shared.faults.clear()
        return web.json_response(shared.faults.snapshot())

    return [
        web.get("/v1/_emu/faults", get_faults),
        web.put("/v1/_emu/faults", put_faults),
        web.delete("/v1/_emu/faults", delete_faults),
    ]
