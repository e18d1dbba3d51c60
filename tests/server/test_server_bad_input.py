"""Client errors are 4xx with AIS's error JSON, never a 500 (the probe's items 1-5).

Each case once answered 500 (aiohttp's text page and a server traceback) or was accepted: a
page size of ``1e400`` (``int(inf)``), JSON nested 100,000 deep (``RecursionError``),
``coloc=١`` (``str.isdigit`` accepts it) or 5,000 digits, a ``Range`` past the int-digit
limit, an object name with a component over 255 bytes (``ENAMETOOLONG``, with the store's
absolute path in the answer).
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from aisloader.server import LocalCluster

from .hostile import ais_error

Session = aiohttp.ClientSession
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJ = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def _list_body(field: str, raw: str) -> bytes:
    return f'{{"action":"list","value":{{"{field}":{raw}}}}}'.encode()


@pytest.mark.parametrize(
    ("field", "raw", "needle"),
    [
        ("pagesize", "1e400", "out of range"),
        ("pagesize", "-5", "must be in 0.."),
        ("pagesize", "9223372036854775808", "must be in 0.."),
        ("pagesize", "1" * 5000, "does not fit in 64 bits"),
        ("pagesize", "3.5", "must be an integer"),
        ("pagesize", "1e30", "must be an integer"),
        ("pagesize", "true", "must be an integer"),
        ("pagesize", '"10"', "must be an integer"),
        ("pagesize", "NaN", "not valid JSON"),
        ("flags", "1e400", "out of range"),
        ("flags", '"x"', "must be an integer"),
        ("prefix", "7", "must be a string"),
    ],
)
async def test_bad_list_fields_are_400(
    acluster: LocalCluster, session: Session, field: str, raw: str, needle: str
) -> None:
    acluster.put_object("b", "o", b"1")
    url = f"{acluster.endpoint}/v1/buckets/b"
    async with session.get(url, data=_list_body(field, raw)) as r:
        await ais_error(r, 400, acluster.root, "invalid list-objects request", needle)
    async with session.get(url, data=_list_body("pagesize", "1")) as r:  # good ones still work
        assert r.status == 200
        assert [e["name"] for e in (await r.json())["entries"]] == ["o"]


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJ], ids=["array", "object"])
async def test_deep_json_is_400_on_every_json_route(
    acluster: LocalCluster, session: Session, body: bytes
) -> None:
    acluster.put_object("b", "o", b"1")
    ep = acluster.endpoint
    routes = [
        ("GET", "/v1/buckets/b"),
        ("POST", "/v1/buckets/nb"),
        ("DELETE", "/v1/buckets/b"),
        ("PUT", "/v1/_emu/faults"),
        ("GET", "/v1/ml/moss/b"),
        ("GET", "/v1/ml/moss"),
    ]
    for method, path in routes:
        async with session.request(method, ep + path, data=body) as r:
            await ais_error(r, 400, acluster.root, "nested too deeply")
    async with session.head(f"{ep}/v1/buckets/b") as r:  # nothing was destroyed
        assert r.status == 200


@pytest.mark.parametrize("coloc", ["\u0661", "\u00b2", "1" * 5000, "3", "-1", "0x1", " 1"])
async def test_bad_coloc_is_400(acluster: LocalCluster, session: Session, coloc: str) -> None:
    acluster.put_object("b", "o", b"1")
    body = json.dumps({"in": [{"objname": "o"}], "strm": False})
    url = f"{acluster.endpoint}/v1/ml/moss/b"
    async with session.get(url, params={"coloc": coloc}, data=body) as r:
        await ais_error(r, 400, acluster.root, "invalid get-batch colocation", "expected 0, 1 or 2")
    async with session.get(url, params={"coloc": "02"}, data=body) as r:  # as Go's ParseUint
        assert r.status == 200


@pytest.mark.parametrize(
    "header",
    [
        "bytes=" + "1" * 5000 + "-",
        "bytes=0-" + "9" * 5000,
        "bytes=-" + "9" * 5000,
        "bytes=9223372036854775808-",
        "bytes=\u0661-\u0662",
    ],
    ids=["start-5000-digits", "end-5000-digits", "suffix-5000-digits", "int64-overflow", "arabic"],
)
async def test_range_past_int64_or_non_ascii_is_416(
    acluster: LocalCluster, session: Session, header: str
) -> None:
    acluster.put_object("b", "o", b"hello")
    url = f"{acluster.endpoint}/v1/objects/b/o"
    async with session.get(url, headers={"Range": header}) as r:
        body = await ais_error(r, 416, acluster.root, "invalid range")
        assert body["tcode"] == "ErrRangeNotSatisfiable"
        assert r.headers["Content-Range"] == "bytes */5"
    async with session.get(url, headers={"Range": "bytes=1-2"}) as r:
        assert (r.status, await r.read()) == (206, b"el")


@pytest.mark.parametrize("method", ["PUT", "GET", "HEAD", "DELETE"])
@pytest.mark.parametrize("component", ["n" * 256, "\u00e9" * 128], ids=["ascii", "2-byte"])
async def test_name_component_over_255_bytes_is_400(
    acluster: LocalCluster, session: Session, method: str, component: str
) -> None:
    acluster.put_object("b", "ok", b"1")
    name = f"d/{component}/x"
    url = f"{acluster.endpoint}/v1/objects/b/{name}"
    async with session.request(method, url, data=b"x" if method == "PUT" else None) as r:
        await ais_error(r, 400, acluster.root, "ais://b/d/", "longer than 255 bytes")


async def test_name_component_of_255_bytes_is_stored(
    acluster: LocalCluster, session: Session
) -> None:
    acluster.put_object("b", "ok", b"1")
    url = f"{acluster.endpoint}/v1/objects/b/d/{'n' * 255}"
    async with session.put(url, data=b"edge") as r:
        assert r.status == 200
    async with session.get(url) as r:
        assert await r.read() == b"edge"


@pytest.mark.parametrize("strm", [True, False])
async def test_get_batch_names_too_long_or_not_utf8_are_400(
    acluster: LocalCluster, session: Session, strm: bool
) -> None:
    acluster.put_object("b", "o", b"1")
    url = f"{acluster.endpoint}/v1/ml/moss/b"
    for name, needle in (("n" * 256, "longer than 255 bytes"), ("a\ud800", "not valid UTF-8")):
        body = json.dumps({"in": [{"objname": "o"}, {"objname": name}], "strm": strm})
        async with session.get(url, data=body) as r:
            await ais_error(r, 400, acluster.root, "invalid object name", needle)


@pytest.mark.parametrize(
    ("method", "body", "status"),
    [
        ("POST", {"action": "bogus"}, 400),
        ("POST", {"action": ""}, 400),
        ("POST", {"action": ["create-bck"]}, 400),
        ("POST", {"value": 1}, 400),
        ("DELETE", {"action": "bogus"}, 400),
        ("POST", {"action": "copy-bck"}, 501),  # AIS has it; the emulator does not
        ("DELETE", {"action": "evict-remote-bck"}, 501),
    ],
)
async def test_unknown_bucket_action_is_400_and_known_one_501(
    acluster: LocalCluster, session: Session, method: str, body: object, status: int
) -> None:
    acluster.put_object("b", "o", b"1")
    url = f"{acluster.endpoint}/v1/buckets/b"
    async with session.request(method, url, data=json.dumps(body)) as r:
        err = await ais_error(r, status, acluster.root, "action")
    assert (err.get("tcode") == "ErrNotImpl") == (status == 501)
    async with session.head(url) as r:  # the bucket is still there
        assert r.status == 200
