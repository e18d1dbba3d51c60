"""Corrupt get-batch answers from the real cluster: a loopback proxy flips one bit in the
cluster's answers, in every format and mode. A corrupt answer is retried like a cut one (its
members are never taken for good ones), and when every answer is corrupt the batch completes
through plain GETs or fails with a typed error that chains to the corruption. Never a wrong
byte, never a short batch, never an untyped exception.

Tar has no data checksum, so a flipped data byte in a ``.tar`` answer cannot be detected by
anyone: for ``.tar`` the proxy flips bits in member headers only (checksummed). gzip (CRC-32)
and zip (CRC-32 per member) answers get flips anywhere, envelope of a buffered answer included.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from _shared import FAST, blob, fake_server, put_objects
from aiohttp import web

from aisloader.core.batch.entry import BatchEntry, OutputFormat
from aisloader.core.client import AsyncClient
from aisloader.errors import AISLoaderError, IncompleteRead, ObjectNotFound, ShardFormatError
from aisloader.refs import Bucket, ObjectRef
from aisloader.server import LocalCluster

from .util import as_bytes

pytestmark = [
    pytest.mark.filterwarnings("ignore::aiohttp.BadContentDispositionHeader"),
    pytest.mark.filterwarnings("ignore::aiohttp.BadContentDispositionParam"),
]
MOSS = "/v1/ml/moss"
_DROP = frozenset({"host", "content-length", "transfer-encoding", "connection", "content-encoding"})
SEEDS = range(int(os.environ.get("CORRUPT_SEEDS", "12")))
"""Answers flipped per test case (each seed picks other bits); more for a longer hunt."""


class Corrupter:
    """Forwards every request to the cluster (following its redirects) and flips one bit of
    the get-batch answers it picks (every ``every``-th one), choosing the bit from ``seed``."""

    def __init__(self, upstream: str, fmt: str, seed: int, every: int) -> None:
        self.upstream, self.fmt, self.every = upstream, fmt, every
        self.rng = random.Random(seed)
        self.answers = self.flipped = 0
        self.error: BaseException | None = None  # a failure here would pass for a 500

    def flip(self, body: bytes) -> bytes:
        if self.fmt == ".tar":  # a bit of a member header: each starts with "<bucket>/"
            starts = [m.start() for m in re.finditer(rb"(?:__404__/)?gbc-[\w-]+/o/\d{5}\0", body)]
            assert starts, body[:200]
            pos = self.rng.choice(starts) + self.rng.randrange(512)
        else:
            pos = self.rng.randrange(len(body))
        self.flipped += 1
        out = bytearray(body)
        out[pos] ^= 1 << self.rng.randrange(8)
        return bytes(out)

    async def forward(self, request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        url = self.upstream + request.path_qs
        body = await request.read()
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(request.method, url, headers=headers, data=body) as resp,
        ):
            data = await resp.read()
            back = {k: v for k, v in resp.headers.items() if k.lower() not in _DROP}
        if request.path.startswith(MOSS) and resp.status == 200:
            self.answers += 1
            if self.answers % self.every == 0:
                try:
                    data = self.flip(data)
                except BaseException as exc:
                    self.error = exc
                    raise
        return web.Response(status=resp.status, headers=back, body=data)


@asynccontextmanager
async def corrupting(cluster: LocalCluster, fmt: str, seed: int, every: int) -> AsyncIterator[Any]:
    proxy = Corrupter(cluster.endpoint, fmt, seed, every)
    async with fake_server([web.route("*", "/{tail:.*}", proxy.forward)]) as endpoint:
        yield proxy, endpoint
    assert proxy.error is None


@pytest.fixture(scope="module")
def objects(cluster: LocalCluster) -> list[Any]:
    put_objects(cluster, "gbc-objects", 10)
    names = [f"o/{i:05d}" for i in range(10)]
    return (
        [ObjectRef(Bucket("gbc-objects"), n) for n in names[:5]]
        + [
            ObjectRef(Bucket("gbc-objects"), "o/99999"),  # missing: a __404__ placeholder
            *(ObjectRef(Bucket("gbc-objects"), n) for n in names[5:]),
        ]
    )


EXPECTED = [blob(i) for i in range(5)] + ["404"] + [blob(i) for i in range(5, 10)]
FORMATS: list[OutputFormat] = [".tar", ".tgz", ".zip"]
CASES = [(f, s) for f in FORMATS for s in (True, False)]


@pytest.mark.parametrize(("fmt", "streaming"), CASES)
async def test_a_corrupt_answer_is_asked_again(
    cluster: LocalCluster, objects: list[Any], fmt: OutputFormat, streaming: bool
) -> None:
    """Every other answer corrupt: each batch still comes back whole and byte-exact."""
    for seed in SEEDS:
        async with (
            corrupting(cluster, fmt, seed, every=2) as (proxy, endpoint),
            AsyncClient(endpoint, config=FAST) as client,
        ):
            pairs = client.get_batch(objects, batch_size=4, output_format=fmt, streaming=streaming)
            got = [p async for p in pairs]
        assert as_bytes(got) == EXPECTED, (fmt, streaming, seed)
        assert proxy.flipped >= 1


@pytest.mark.parametrize(("fmt", "streaming"), CASES)
async def test_every_answer_corrupt_ends_typed_or_whole(
    cluster: LocalCluster, objects: list[Any], fmt: OutputFormat, streaming: bool
) -> None:
    """Every answer corrupt: plain GETs complete the batch, or the retry budget runs out with
    an ``IncompleteRead`` that chains to the corruption (which names the request)."""
    config = FAST.replace(retry_attempts=3)
    for seed in SEEDS:
        got: list[Any] = []
        async with (
            corrupting(cluster, fmt, seed, every=1) as (_, endpoint),
            AsyncClient(endpoint, config=config) as client,
        ):
            try:
                pairs = client.get_batch(
                    objects, batch_size=11, output_format=fmt, streaming=streaming
                )
                got = [p async for p in pairs]
            except AISLoaderError as exc:
                error: AISLoaderError | None = exc
            else:
                error = None
        if error is None:
            assert as_bytes(got) == EXPECTED, (fmt, streaming, seed)
            continue
        assert isinstance(error, IncompleteRead), (seed, error)
        cause = error.__cause__
        if isinstance(cause, ShardFormatError):
            assert cause.shard.startswith("get-batch of ")
            assert "ais://gbc-objects/" in cause.shard
            assert cause.reason in str(error)


async def test_a_missing_entry_stays_typed_through_corruption(
    cluster: LocalCluster, objects: list[Any]
) -> None:
    async with (
        corrupting(cluster, ".zip", 0, every=2) as (_, endpoint),
        AsyncClient(endpoint, config=FAST) as client,
    ):
        got = [p async for p in client.get_batch(objects, output_format=".zip")]
    entry, value = got[5]
    assert isinstance(entry, BatchEntry)
    assert isinstance(value, ObjectNotFound)
    assert value.url == "ais://gbc-objects/o/99999"
