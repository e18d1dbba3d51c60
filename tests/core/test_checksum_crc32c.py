"""crc32c checksums end to end: the embedded cluster sends them for a crc32c bucket, the client
verifies them (``verify_checksums``), and a corrupted body is retried, then typed.

Corruption comes from a loopback forwarder in front of the cluster that follows the redirect
itself and flips one byte of the first ``bad`` object bodies it relays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import google_crc32c
import pytest
from _shared import FAST, blob, fake_server
from aiohttp import web

from aisloader.core.client import AsyncClient
from aisloader.core.http.checksum import Verifier, supported
from aisloader.errors import ChecksumMismatch
from aisloader.server import LocalCluster

VERIFY = dataclasses.replace(FAST, verify_checksums=True, retry_attempts=4)
_KEPT = ("Ais-Checksum-Type", "Ais-Checksum-Value", "Ais-Version", "Ais-Atime", "Content-Type")


class Flipper:
    """Relays object GETs to ``upstream`` (following redirects) and corrupts the first ``bad``."""

    def __init__(self, upstream: str, bad: int) -> None:
        self.upstream, self.bad, self.corrupted = upstream, bad, 0
        self.endpoint = ""

    async def handle(self, request: web.Request) -> web.Response:
        url = self.upstream + request.path_qs
        async with (
            aiohttp.ClientSession() as s,
            s.get(url, headers={"Accept": "*/*"}) as resp,
        ):
            body = bytearray(await resp.read())
            headers = {k: resp.headers[k] for k in _KEPT if k in resp.headers}
            status = resp.status
        if status == 200 and body and self.corrupted < self.bad:
            self.corrupted += 1
            body[len(body) // 2] ^= 0x01
        return web.Response(status=status, body=bytes(body), headers=headers)


@pytest.fixture
def crc_bucket(cluster: LocalCluster, bucket: str) -> str:
    # No public route sets bucket props on the emulator: set the type on its store directly.
    cluster.set_checksum_type(bucket, "crc32c")
    return bucket


@pytest.fixture
async def flipped(cluster: LocalCluster) -> AsyncIterator[Flipper]:
    flipper = Flipper(cluster.endpoint.rstrip("/"), bad=0)
    async with fake_server([web.get("/v1/objects/{tail:.*}", flipper.handle)]) as endpoint:
        flipper.endpoint = endpoint
        yield flipper


def test_known_answer() -> None:
    v = Verifier("CRC32C", "E3069283")  # type and value matched case-insensitively
    v.update(b"1234")
    v.update(b"56789")
    v.check("ais://b/kat")
    assert supported("crc32c")
    assert supported("Crc32C")
    assert google_crc32c.value(b"123456789") == 0xE3069283


def test_known_answer_mismatch_names_object() -> None:
    v = Verifier("crc32c", "00000000")
    v.update(b"123456789")
    with pytest.raises(ChecksumMismatch) as err:
        v.check("ais://b/kat")
    text = str(err.value)
    assert "ais://b/kat" in text
    assert "00000000" in text
    assert "e3069283" in text


async def test_crc32c_bucket_headers_and_verified_get(
    cluster: LocalCluster, crc_bucket: str
) -> None:
    data = blob(7, 70_000)
    async with AsyncClient(cluster.endpoint, config=VERIFY) as c:
        await c.put(f"ais://{crc_bucket}/o", data)
        props = await c.head(f"ais://{crc_bucket}/o")
        assert await c.get(f"ais://{crc_bucket}/o") == data
        assert c.stats.errors.get("ChecksumMismatch", 0) == 0
    want = f"{google_crc32c.value(data):08x}"
    assert props.checksum_type == "crc32c"
    assert props.checksum_value == want


async def test_crc32c_lazy_for_existing_object(cluster: LocalCluster, bucket: str) -> None:
    """An object stored under xxhash is re-checksummed once the bucket turns crc32c."""
    data = blob(3, 5_000)
    async with AsyncClient(cluster.endpoint, config=VERIFY) as c:
        await c.put(f"ais://{bucket}/o", data)
        assert (await c.head(f"ais://{bucket}/o")).checksum_type == "xxhash"
        cluster.set_checksum_type(bucket, "crc32c")
        props = await c.head(f"ais://{bucket}/o")
        assert props.checksum_value == f"{google_crc32c.value(data):08x}"
        assert await c.get(f"ais://{bucket}/o") == data


async def test_persistent_corruption_is_typed(
    cluster: LocalCluster, crc_bucket: str, flipped: Flipper
) -> None:
    data = blob(5, 30_000)
    async with AsyncClient(cluster.endpoint, config=VERIFY) as c:
        await c.put(f"ais://{crc_bucket}/bad", data)
    flipped.bad = 1_000
    async with AsyncClient(flipped.endpoint, config=VERIFY) as c:
        with pytest.raises(ChecksumMismatch) as err:
            await c.get(f"ais://{crc_bucket}/bad")
        assert f"ais://{crc_bucket}/bad" in str(err.value)
        assert f"{google_crc32c.value(data):08x}" in str(err.value)
        assert c.stats.errors["ChecksumMismatch"] == VERIFY.retry_attempts
        assert c.stats.retries == VERIFY.retry_attempts - 1


async def test_transient_corruption_is_retried(
    cluster: LocalCluster, crc_bucket: str, flipped: Flipper
) -> None:
    data = blob(6, 30_000)
    async with AsyncClient(cluster.endpoint, config=VERIFY) as c:
        await c.put(f"ais://{crc_bucket}/flaky", data)
    flipped.bad = 2
    async with AsyncClient(flipped.endpoint, config=VERIFY) as c:
        assert await c.get(f"ais://{crc_bucket}/flaky") == data
        assert c.stats.errors["ChecksumMismatch"] == 2
        assert c.stats.retries == 2
    assert flipped.corrupted == 2
