"""Answers never show the store root or a traceback; a client leaving early is not an error.

Other paths the adversarial probe's item 6 asked for: an ``OSError``'s text (it names files
by absolute path) in 409/400/500 bodies, a handler bug answered with aiohttp's text page, a
stored zip whose member fails its CRC (a 500, or a second answer written into a sent body),
fault rules of the wrong JSON type that failed on every later request, a long bucket name
whose HEAD error header outgrew what a client parses, and the tracebacks a get-batch stream
logged for each client that stopped reading.
"""

from __future__ import annotations

import asyncio
import errno
import io
import json
import logging
import random
import zipfile
from contextlib import aclosing
from pathlib import Path
from typing import NoReturn

import aiohttp
import pytest

from aisloader.config import ClientConfig
from aisloader.core.client import AsyncClient
from aisloader.server import LocalCluster
from aisloader.server.store import Store

from .hostile import ais_error

Session = aiohttp.ClientSession


async def test_directory_where_an_archive_is_asked_is_404_without_paths(
    acluster: LocalCluster, session: Session
) -> None:
    acluster.put_object("b", "x.tar/y", b"a file under a directory named like an archive")
    url = f"{acluster.endpoint}/v1/objects/b/x.tar?archpath=y"
    async with session.get(url) as r:
        await ais_error(r, 404, acluster.root, "ais://b/x.tar does not exist")


async def test_name_conflict_409_names_no_path(acluster: LocalCluster, session: Session) -> None:
    acluster.put_object("b", "d/x", b"nested")
    async with session.put(f"{acluster.endpoint}/v1/objects/b/d", data=b"!") as r:
        await ais_error(r, 409, acluster.root, "ais://b/d: name conflicts", "Is a directory")


async def test_disk_error_is_500_without_paths(
    acluster: LocalCluster, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    acluster.put_object("b", "o", b"1")
    where = str(acluster.root / "data" / "ais")

    def full(self: Store, b: object) -> NoReturn:
        raise OSError(errno.ENOSPC, "No space left on device", where)

    monkeypatch.setattr(Store, "ensure_index", full)
    async with session.get(f"{acluster.endpoint}/v1/buckets/b") as r:
        await ais_error(r, 500, acluster.root, "I/O error on GET /v1/buckets/b", "No space left")


async def test_handler_bug_is_ais_500_logged_once(
    acluster: LocalCluster,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    acluster.put_object("b", "o", b"1")

    def bug(self: Store, b: object) -> NoReturn:
        raise RuntimeError(f"bug at {self.root}")

    monkeypatch.setattr(Store, "bucket_props", bug)
    with caplog.at_level(logging.ERROR, logger="aisloader.server"):
        async with session.head(f"{acluster.endpoint}/v1/buckets/b") as r:
            await ais_error(r, 500, acluster.root, "internal error on HEAD", "RuntimeError")
    logged = [rec for rec in caplog.records if rec.name == "aisloader.server"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "latency", "methods": [5]},
        {"kind": "latency", "methods": "GET"},
        {"kind": "status", "path_prefix": 5},
        {"kind": "status", "hop": ["proxy"]},
        {"kind": "status", "every": True},
        {"kind": "status", "status": "503"},
    ],
)
async def test_fault_rules_of_wrong_types_are_400(
    acluster: LocalCluster, session: Session, rule: dict[str, object]
) -> None:
    ep = acluster.endpoint
    body = json.dumps({"faults": [rule]})
    async with session.put(f"{ep}/v1/_emu/faults", data=body) as r:
        await ais_error(r, 400, acluster.root, "invalid fault rules")
    async with session.get(f"{ep}/v1/_emu/faults") as r:
        assert (await r.json())["faults"] == []
    async with session.get(f"{ep}/v1/health") as r:
        assert r.status == 200


async def test_long_bucket_name_error_fits_a_header(
    acluster: LocalCluster, session: Session
) -> None:
    long = "b" * 5000
    async with session.head(f"{acluster.endpoint}/v1/buckets/{long}/{long}") as r:
        body = await ais_error(r, 400, acluster.root, "is invalid")
    assert len(r.headers["Hdr-Error"]) < 2048
    assert body["url_path"].endswith("...")


async def test_request_line_past_the_limit_is_400_without_traceback(
    acluster: LocalCluster, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="aisloader.server"):
        async with session.get(f"{acluster.endpoint}/v1/objects/b/{'x' * 70_000}") as r:
            assert r.status == 400
    assert not [r for r in caplog.records if r.levelno > logging.DEBUG or r.exc_info]
    assert any("Got more than" in r.getMessage() for r in caplog.records)


def _bad_crc_zip(size: int) -> bytes:
    """A zip whose member ``m`` (random bytes: stored deflate blocks) fails its CRC check."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("m", random.Random(size).randbytes(size))
    data = bytearray(buf.getvalue())
    data[data.index(b"PK\x03\x04") + 30 + 1 + size // 2] ^= 0xFF  # a byte of m's data
    return bytes(data)


async def test_corrupt_zip_member_is_400_or_a_cut_stream(
    acluster: LocalCluster, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    acluster.put_object("b", "small.zip", _bad_crc_zip(1000))
    acluster.put_object("b", "large.zip", _bad_crc_zip(600_000))  # past the one-write size
    ep = acluster.endpoint
    async with session.get(f"{ep}/v1/objects/b/small.zip?archpath=m") as r:
        await ais_error(r, 400, acluster.root, "small.zip: failed to read zip archive", "CRC")
    body = {"in": [{"objname": "small.zip", "archpath": "m"}], "strm": False}
    async with session.get(f"{ep}/v1/ml/moss/b", json=body) as r:
        await ais_error(r, 400, acluster.root, "failed to read zip archive")
    with caplog.at_level(logging.WARNING):
        async with session.get(f"{ep}/v1/objects/b/large.zip?archpath=m") as r:
            assert r.status == 200  # sent before the CRC is checked: the body is cut, as AIS
            with pytest.raises(aiohttp.ClientPayloadError):
                await r.read()
    assert not [rec for rec in caplog.records if rec.exc_info], "no traceback"
    async with session.get(f"{ep}/v1/health") as r:
        assert r.status == 200


def test_early_breaks_from_get_batch_streams_log_no_traceback(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """20 clients stop reading get-batch answers after the first item, with 8 requests in
    flight each: the cancelled ones leave before, during or after the target's headers."""
    config = ClientConfig(batches_in_flight=8, batch_size=4)
    names = [f"o{i:03d}" for i in range(64)]
    with LocalCluster(root=tmp_path / "root") as c, caplog.at_level(logging.DEBUG):
        for n in names:
            c.put_object("b", n, n.encode() * 300)

        async def breaks() -> None:
            async with AsyncClient(c.endpoint, config=config) as client:
                for _ in range(20):
                    async with aclosing(client.get_batch([f"ais://b/{n}" for n in names])) as g:
                        async for _entry, value in g:
                            assert value == b"o000" * 300
                            break
                await asyncio.sleep(0.2)  # the cluster's thread finishes the cut answers

        asyncio.run(breaks())
    server = [r for r in caplog.records if r.name.startswith(("aiohttp", "aisloader.server"))]
    loud = [r for r in server if r.levelno > logging.DEBUG or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]
    ours = [r.getMessage() for r in server if r.name == "aisloader.server"]
    assert all("answer cut short" in m for m in ours), ours
