"""Get-batch (``/v1/ml/moss``) over raw aiohttp: redirect, validation, entry kinds, formats."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from aisloader.server import LocalCluster, hrw

from .batchutil import (
    ENTRIES,
    WANT,
    B,
    Session,
    batch_body,
    batch_get,
    batch_url,
    buffered,
    untar,
    unzip,
)


async def test_redirect_marker_single_use_and_direct_access(mc: LocalCluster, s: Session) -> None:
    body = batch_body([{"objname": "a"}])
    async with await batch_get(s, batch_url(mc), body, allow_redirects=False) as r:
        assert r.status == 307
        loc = r.headers["Location"]
    u = urlsplit(loc)
    parts = u.path.split("/")
    assert parts[:5] == ["", "v1", "ml", "moss", B]
    assert parts[5].startswith("gbt-")
    assert parts[7] == "3"  # number of active targets
    q = parse_qs(u.query)
    assert q["provider"] == ["ais"]
    assert {"tid", "pid", "utm"} <= set(q)
    assert f"{u.scheme}://{u.netloc}" in mc.target_endpoints
    unmarked = loc.split("?")[0] + f"?provider=ais&tid={q['tid'][0]}"
    async with await batch_get(s, unmarked, body) as r:
        assert r.status == 401
        assert "direct target access denied" in (await r.json())["message"]
    async with await batch_get(s, loc, body) as r:
        assert r.status == 200
        assert untar(await r.read()) == [(f"{B}/a", b"alpha")]
    async with await batch_get(s, loc, body) as r:
        assert r.status == 400  # the work id was used
    async with await batch_get(
        s,
        batch_url(mc, None, ""),
        batch_body([{"objname": "a", "bucket": B}]),
        allow_redirects=False,
    ) as r:
        u = urlsplit(r.headers["Location"])
        assert len(u.path.split("/")) == 7
        assert u.query.startswith("tid=")
    async with await batch_get(s, loc.split("?")[0] + f"?{u.query}", b"") as r:
        assert r.status == 400  # wrong target / unknown work id


async def test_dt_needs_the_body_again(mc: LocalCluster, s: Session) -> None:
    async with await batch_get(
        s, batch_url(mc), batch_body([{"objname": "a"}]), allow_redirects=False
    ) as r:
        loc = r.headers["Location"]
    async with s.get(loc) as r:  # a client that drops the GET body on redirect
        assert r.status == 400


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "not JSON"),
        (batch_body([]), 400, '"in"'),
        (batch_body([{"objname": "a"}], mime=".rar"), 400, "output format"),
        (batch_body([{"objname": "a"}], mime=".tar.lz4"), 501, "not implemented"),
        (batch_body([{"objname": "../x"}]), 400, "invalid object name"),
        (batch_body([{"objname": "a", "bucket": "b@d"}]), 400, "bucket name"),
        (batch_body([{"objname": "a", "archpath": "f"}]), 400, "not an archive"),
        (batch_body([{"objname": "a", "opaque": "%%"}]), 400, "base64"),
        (batch_body([{"objname": "a", "start": 5}]), 416, "range"),
        (batch_body([{"objname": "a", "start": 1, "length": -2}]), 416, "range"),
        (batch_body([{"objname": "a", "bucket": "nob", "provider": "ais"}]), 404, "ais://nob"),
    ],
)
async def test_validation_at_the_proxy(
    mc: LocalCluster, s: Session, body: bytes, status: int, needle: str
) -> None:
    async with await batch_get(s, batch_url(mc), body, allow_redirects=False) as r:
        assert r.status == status
        assert needle in (await r.json())["message"]


async def test_bucket_and_coloc_errors(mc: LocalCluster, s: Session) -> None:
    async with await batch_get(
        s, batch_url(mc, "nob"), batch_body([{"objname": "a"}], coer=True)
    ) as r:
        err = await r.json()
        assert (r.status, err["tcode"]) == (404, "ErrBckNotFound")
        assert "ais://nob" in err["message"]
    async with await batch_get(
        s, batch_url(mc, query="provider=ais&coloc=3"), batch_body([{"objname": "a"}])
    ) as r:
        assert r.status == 400
    async with await batch_get(s, batch_url(mc, None, ""), batch_body([{"objname": "a"}])) as r:
        assert r.status == 400  # no default bucket and none in the entry


async def test_coloc_picks_the_owner_of_most_entries(mc: LocalCluster, s: Session) -> None:
    async with s.get(f"{mc.endpoint}/v1/daemon?what=smap") as r:
        tmap = (await r.json())["tmap"]
    nodes = [(tid, t["id_digest"]) for tid, t in tmap.items()]
    owner = hrw.owner(f"ais/@#/{B}/d/r.bin", nodes)
    body = batch_body([{"objname": "a"}, {"objname": "d/r.bin"}, {"objname": "d/r.bin"}])
    for _ in range(3):
        async with await batch_get(
            s, batch_url(mc, query="provider=ais&coloc=1"), body, allow_redirects=False
        ) as r:
            assert parse_qs(urlsplit(r.headers["Location"]).query)["tid"] == [owner]


async def test_buffered_entry_kinds_order_duplicates_opaque(mc: LocalCluster, s: Session) -> None:
    meta, blob = await buffered(s, batch_url(mc), batch_body(ENTRIES, strm=False))
    assert untar(blob) == WANT
    assert meta["uuid"].startswith("gbt-")
    outs = meta["out"]
    assert [o["size"] for o in outs] == [len(d) for _, d in WANT]
    assert outs[2] == {
        "objname": "sh.tar",
        "archpath": "sub/s2.jpg",
        "bucket": B,
        "provider": "ais",
        "opaque": "+/8AaWQ=",
        "size": 5,
    }
    assert [o["bucket"] for o in outs] == [B] * 5 + ["mb2", B]
    assert all("err_msg" not in o and "opaque" not in o for i, o in enumerate(outs) if i != 2)


@pytest.mark.parametrize(
    ("mime", "ctype"),
    [
        (".tar", "application/x-tar"),
        ("tar.gz", "application/gzip"),
        (".tgz", "application/gzip"),
        ("application/zip", "application/zip"),
    ],
)
async def test_streaming_formats(mc: LocalCluster, s: Session, mime: str, ctype: str) -> None:
    async with await batch_get(s, batch_url(mc), batch_body(ENTRIES, mime=mime, onob=True)) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == ctype
        assert r.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in r.headers
        blob = await r.read()
    if ctype == "application/gzip":
        assert blob[:2] == b"\x1f\x8b"
    got = unzip(blob) if ctype == "application/zip" else untar(blob)
    assert got == [(n.split("/", 1)[1], d) for n, d in WANT]  # onob: no bucket prefix


def _missing(n: int) -> list[dict[str, Any]]:
    return [{"objname": "a"}] + [{"objname": f"gone{i}"} for i in range(n)] + [{"objname": "a"}]


async def test_soft_error_limit(mc: LocalCluster, s: Session) -> None:
    meta, blob = await buffered(s, batch_url(mc), batch_body(_missing(8), strm=False, coer=True))
    got = untar(blob)
    assert [n for n, _ in got[1:9]] == [f"__404__/{B}/gone{i}" for i in range(8)]
    assert all(d == b"" for _, d in got[1:9])
    assert "ais://mb/gone0 does not exist" in meta["out"][1]["err_msg"]
    async with await batch_get(
        s, batch_url(mc), batch_body(_missing(2), onob=True, coer=True)
    ) as r:
        assert [n for n, _ in untar(await r.read())][1:3] == ["__404__/gone0", "__404__/gone1"]
    async with await batch_get(
        s, batch_url(mc), batch_body(_missing(9), strm=False, coer=True)
    ) as r:
        assert r.status == 400
    async with await batch_get(s, batch_url(mc), batch_body(_missing(9), coer=True)) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()


@pytest.mark.parametrize(
    ("entry", "status", "needle"),
    [
        ({"objname": "gone"}, 404, "ais://mb/gone does not exist"),
        ({"objname": "sh.zip", "archpath": "nope"}, 404, "ais://mb/sh.zip/nope"),
        ({"objname": "a", "start": 2, "length": 9}, 416, "out of bounds"),
    ],
)
async def test_hard_errors_buffered_status_streaming_cut(
    mc: LocalCluster, s: Session, entry: dict[str, Any], status: int, needle: str
) -> None:
    entries = [{"objname": "a"}, entry]
    async with await batch_get(s, batch_url(mc), batch_body(entries, strm=False)) as r:
        err = await r.json()
        assert (r.status, err["status"]) == (status, status)
        assert needle in err["message"]
    async with await batch_get(s, batch_url(mc), batch_body(entries)) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
