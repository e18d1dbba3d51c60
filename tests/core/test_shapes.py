"""Error shapes the embedded cluster does not produce, served by small fake servers."""

from __future__ import annotations

import json

import msgspec
import pytest
from _shared import FAST, fake_server
from aiohttp import web

from aisloader.core.client import AsyncClient
from aisloader.errors import AccessDenied, BucketNotFound, ChecksumMismatch, DataError

TOKEN = "tok-VERY-SECRET"


async def test_token_to_proxy_only_and_never_in_errors() -> None:
    seen: dict[str, str | None] = {}

    async def target(request: web.Request) -> web.Response:
        seen["target"] = request.headers.get("Authorization")
        return web.json_response({"message": "t[x]: ais://b/o denied", "status": 403}, status=403)

    async with fake_server([web.get("/v1/objects/{tail:.*}", target)]) as tgt:

        async def proxy(request: web.Request) -> web.Response:
            seen["proxy"] = request.headers.get("Authorization")
            raise web.HTTPMovedPermanently(f"{tgt}{request.rel_url}&pid=p&utm=1")

        async with fake_server([web.get("/v1/objects/{tail:.*}", proxy)]) as prx:  # noqa: SIM117
            async with AsyncClient(prx, config=FAST.replace(token=TOKEN)) as c:
                with pytest.raises(AccessDenied, match="ais://b/o") as info:
                    await c.get(("b", "o"))
                assert TOKEN not in repr(c)
    assert seen == {"proxy": f"Bearer {TOKEN}", "target": None}
    err = info.value
    assert TOKEN not in str(err)
    assert TOKEN not in repr(err)
    assert err.status == 403
    assert TOKEN not in "".join(getattr(err, "__notes__", []))


async def test_head_error_from_header_and_tcode_refinement() -> None:
    async def head(request: web.Request) -> web.Response:
        hdr = json.dumps({"tcode": "ErrBckNotFound", "message": 'bucket "ais://b" does not exist'})
        return web.Response(status=404, headers={"Hdr-Error": hdr})

    async with fake_server([web.head("/v1/objects/{tail:.*}", head)]) as srv:  # noqa: SIM117
        async with AsyncClient(srv, config=FAST) as c:
            with pytest.raises(BucketNotFound, match="does not exist") as info:
                await c.head(("b", "o"))
    assert info.value.tcode == "ErrBckNotFound"
    assert info.value.url == "ais://b/o"


async def test_checksum_mismatch() -> None:
    async def get(request: web.Request) -> web.Response:
        headers = {"Ais-Checksum-Type": "xxhash", "Ais-Checksum-Value": "0123456789abcdef"}
        if request.headers.get("Range") == "bytes=0-2":
            headers["Content-Range"] = "bytes 0-2/18"
            return web.Response(status=206, body=b"not", headers=headers)
        return web.Response(body=b"not what you think", headers=headers)

    async with fake_server([web.get("/v1/objects/{tail:.*}", get)]) as srv:
        async with AsyncClient(srv, config=FAST.replace(verify_checksums=True)) as c:
            with pytest.raises(ChecksumMismatch, match="ais://b/o"):
                await c.get(("b", "o"))
            assert await c.get(("b", "o"), byte_range=(0, 3)) == b"not"  # ranges not verified
            with pytest.raises(DataError, match="bytes=1-2"):  # a server ignoring Range
                await c.get(("b", "o"), byte_range=(1, 3))
        async with AsyncClient(srv, config=FAST) as c:
            assert await c.get(("b", "o")) == b"not what you think"


async def test_repeated_continuation_token_is_an_error() -> None:
    calls = 0

    async def lso(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        page = {"UUID": "u1234567890", "ContinuationToken": "same", "Entries": [{"n": "a"}]}
        return web.Response(
            body=msgspec.msgpack.encode({**page, "Flags": 0}), content_type="application/msgpack"
        )

    async with fake_server([web.get("/v1/buckets/{b}", lso)]) as srv:  # noqa: SIM117
        async with AsyncClient(srv, config=FAST) as c:
            with pytest.raises(DataError, match="repeated continuation token"):
                [e async for e in c.list_objects("b")]
    assert calls == 2


async def test_unreadable_page_is_data_error() -> None:
    async def lso(request: web.Request) -> web.Response:
        return web.json_response({"entries": []})

    async with fake_server([web.get("/v1/buckets/{b}", lso)]) as srv:  # noqa: SIM117
        async with AsyncClient(srv, config=FAST) as c:
            with pytest.raises(DataError, match="ais://b"):
                [e async for e in c.list_objects("b")]


async def test_bad_tls_files_are_config_errors() -> None:
    from aisloader.errors import ConfigError

    cfg = FAST.replace(ca_bundle="/nonexistent/ca.pem")
    async with AsyncClient("https://127.0.0.1:1", config=cfg) as c:
        with pytest.raises(ConfigError, match="TLS"):
            await c.get(("b", "o"))
