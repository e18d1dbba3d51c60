"""Pure rules of the HTTP layer: HRW, backoff, ranges, wire decoding, transport errors,
checksums (error mapping and config from the environment: ``tests/pure/test_refs_config.py``)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from aisloader.core.http import hrw
from aisloader.core.http.checksum import Verifier
from aisloader.core.http.netfail import transport_error
from aisloader.core.http.reader import range_header
from aisloader.core.http.retry import Attempts, RetryPolicy, Stats
from aisloader.core.http.wire import (
    LsoPage,
    decode_error,
    decode_smap,
    lso_body,
    props_from_headers,
)
from aisloader.errors import (
    ChecksumMismatch,
    ConfigError,
    TransportError,
)

IDS = {"tA1b2C3d": 1024559713552443126, "tE5f6G7h": 6968700598530540242}
IDS["tI9j0K1l"] = 2418377304551437727


@pytest.mark.parametrize(
    ("uname", "digest", "winner"),
    [
        ("ais/@#/bck1/dir/a.txt", 4508032071798252420, "tA1b2C3d"),
        ("ais/@#/imagenet/train/000001.jpg", 3692628729216147201, "tI9j0K1l"),
        ("aws/@#/my-s3/shards/shard-000042.tar", 955131943031521346, "tI9j0K1l"),
        ("ais/@uuid1#ns1/bck/obj", 12658736837621620828, "tA1b2C3d"),
    ],
)
def test_hrw_vector(uname: str, digest: int, winner: str) -> None:
    assert {k: hrw.digest(k) for k in IDS} == IDS
    assert hrw.digest(uname) == digest
    assert hrw.owner(uname, [(k, v, 0) for k, v in IDS.items()]) == winner


def test_hrw_skips_maintenance_and_handles_empty() -> None:
    targets = [(k, v, 0) for k, v in IDS.items()]
    flagged = [(k, v, 4 if k == "tA1b2C3d" else 0) for k, v in IDS.items()]
    assert hrw.owner("ais/@#/bck1/dir/a.txt", targets) == "tA1b2C3d"
    assert hrw.owner("ais/@#/bck1/dir/a.txt", flagged) != "tA1b2C3d"
    assert hrw.owner("x", []) is None


def test_backoff_bounds() -> None:
    p = RetryPolicy(attempts=5, base=0.1, cap=1.0, budget=10)
    assert [p.ceiling(n) for n in (1, 2, 3, 4, 5, 6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert p.delay(3, lambda: 0.0) == 0.0
    assert p.delay(3, lambda: 0.999) == pytest.approx(0.3996)
    assert all(0 <= p.delay(n) < p.ceiling(n) for n in range(1, 50) for _ in range(20))
    assert p.ceiling(10_000) == 1.0


async def test_attempts_budget_and_count() -> None:
    stats = Stats()
    a = Attempts(RetryPolicy(attempts=3, base=0.001, cap=0.001, budget=10), stats)
    await a.again(ValueError("one"))
    await a.again(ValueError("two"))
    with pytest.raises(ValueError, match="three") as info:
        await a.again(ValueError("three"))
    assert stats.retries == 2
    assert stats.errors == {"ValueError": 3}
    assert "gave up after 3 attempt(s)" in info.value.__notes__[0]
    timed = Attempts(RetryPolicy(attempts=100, base=0.001, cap=0.001, budget=0.05), Stats())

    async def spend() -> None:
        for _ in range(1000):
            await timed.again(KeyError("x"))
            await asyncio.sleep(0.01)

    with pytest.raises(KeyError):
        await spend()


def test_range_header() -> None:
    assert range_header((0, 10)) == "bytes=0-9"
    assert range_header((5, None)) == "bytes=5-"
    assert range_header("bytes=-4") == "bytes=-4"
    for bad in [(-1, 3), (3, 3), "bytes=1-2,4-5", "0-1"]:
        with pytest.raises(ConfigError):
            range_header(bad)  # type: ignore[arg-type]


def test_msgpack_page_decode() -> None:
    raw = msgspec.msgpack.encode(
        {
            "UUID": "u123456789",
            "ContinuationToken": "b",
            "Entries": [{"n": "a", "s": 3, "f": 64, "m": "ignored"}, {"n": "b", "cs": "ff"}],
            "Flags": 0,
        }
    )
    page = msgspec.msgpack.Decoder(LsoPage).decode(raw)
    assert (page.uuid, page.token) == ("u123456789", "b")
    assert page.entries is not None
    assert [(e.name, e.size, e.flags, e.checksum) for e in page.entries] == [
        ("a", 3, 64, ""),
        ("b", 0, 0, "ff"),
    ]
    empty = msgspec.msgpack.encode({"UUID": "u", "ContinuationToken": "", "Entries": None})
    assert msgspec.msgpack.Decoder(LsoPage).decode(empty).entries is None


def test_lso_body_shape() -> None:
    body = msgspec.json.decode(lso_body("p/", "name", 7, 8, "u", "t"))
    assert body == {
        "action": "list",
        "name": "",
        "value": {
            "prefix": "p/",
            "pagesize": 7,
            "uuid": "u",
            "props": "name",
            "continuation_token": "t",
            "flags": "8",
            "target": "",
        },
    }


def test_smap_decode_big_digest() -> None:
    raw = (
        b'{"tmap":{"t1":{"daemon_id":"t1","daemon_type":"target","flags":0,'
        b'"id_digest":18446744073709551615,"public_net":{"direct_url":"http://x:1",'
        b'"node_ip_addr":"x","daemon_port":"1"}}},"pmap":{},"proxy_si":{},'
        b'"uuid":"c","version":"42","ext":null}'
    )
    smap = decode_smap(raw)
    assert smap.version == "42"
    assert smap.tmap["t1"].id_digest == 2**64 - 1
    assert smap.tmap["t1"].public_net.direct_url == "http://x:1"


def test_error_body_decode() -> None:
    body = decode_error(
        b'{"tcode":"ErrNotFound","message":"ais://b/o does not exist","status":404}'
    )
    assert (body.tcode, body.message, body.status) == (
        "ErrNotFound",
        "ais://b/o does not exist",
        404,
    )
    assert decode_error("plain text").message == "plain text"
    assert decode_error(b"{not json").tcode == ""


def test_transport_error_names_object() -> None:
    err = transport_error(ConnectionResetError("boom"), "ais://b/o", 3)
    assert isinstance(err, TransportError)
    assert err.url == "ais://b/o"
    assert err.attempts == 3
    assert "ais://b/o" in str(err)
    assert isinstance(err.__cause__, ConnectionResetError)


def test_verifier() -> None:
    import xxhash

    v = Verifier.from_headers(
        {"Ais-Checksum-Type": "xxhash", "Ais-Checksum-Value": xxhash.xxh64(b"abc").hexdigest()}
    )
    assert v is not None
    v.update(b"ab")
    v.update(b"c")
    v.check("ais://b/o")
    bad = Verifier("md5", "00")
    bad.update(b"abc")
    with pytest.raises(ChecksumMismatch, match="ais://b/o"):
        bad.check("ais://b/o")
    assert Verifier.from_headers({"Ais-Checksum-Type": "none", "Ais-Checksum-Value": "1"}) is None


def test_props_from_headers() -> None:
    p = props_from_headers({"Ais-Atime": "12", "Ais-Version": "3", "Ais-Present": "false"}, 5)
    assert (p.size, p.atime, p.version, p.present) == (5, 12, "3", False)
