"""Fuzzing the get-batch answer reader (:class:`ArchiveReader`, :func:`read_multipart`).

Answers shaped like the cluster's (``bucket/object`` members and a ``__404__/`` placeholder, as
``.tar``, ``.tgz`` and ``.zip``) are mutated and fed in random chunks: only an
:class:`~aisloader.errors.AISLoaderError` may escape, within a per-example alarm, with no member
over ``max_member_size`` and no more members than asked for. A single flipped bit in a
checksummed format (gzip's CRC, zip's per-member CRC) gives the members unchanged, a prefix of
them (zip: a shorter central directory), or an error: never wrong bytes. Sizes a header claims
are checked against the limit before anything is inflated (``tracemalloc`` peaks asserted).
"""

from __future__ import annotations

import asyncio
import gzip
import io
import random
import struct
import threading
import tracemalloc
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from _shared import bounded, fake_server, tar_of
from aiohttp import web
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from aisloader.config import ClientConfig
from aisloader.core.batch.archive import ArchiveReader, read_multipart
from aisloader.errors import AISLoaderError, DataError, ShardFormatError

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ABOUT = "get-batch of 5 entries from ais://b/o0"
MEMBERS = [(f"b/o{i}", random.Random(i).randbytes(300 * i) + b"x" * 400) for i in range(4)]
MEMBERS.append(("__404__/b/o4", b""))


def zip_answer(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


TAR = tar_of(MEMBERS)
ANSWERS = {
    ".tar": TAR,
    ".tgz": gzip.compress(TAR, mtime=0),
    ".zip": zip_answer(MEMBERS),
    ".zip stored": zip_answer(MEMBERS, zipfile.ZIP_STORED),
}


@st.composite
def mutated(draw: st.DrawFn, blob: bytes) -> tuple[bytes, bool]:
    """``blob`` with 1 to 3 edits at uniform positions (flip, overwrite, insert, delete, cut),
    and whether the only edit was one flipped bit."""
    out = bytearray(blob)
    rng = random.Random(draw(st.integers(0, 2**64)))
    edits = rng.randint(1, 3)
    ops = ["flip"] * 3 + ["set", "insert", "delete", "cut"]
    kinds = [rng.choice(ops) for _ in range(edits)]
    for kind in kinds:
        pos = rng.randrange(len(out))
        if kind == "flip":
            out[pos] ^= 1 << rng.randrange(8)
        elif kind == "set":
            out[pos] = rng.randrange(256)
        elif kind == "insert":
            out[pos:pos] = rng.randbytes(rng.randint(1, 300))
        elif kind == "delete":
            del out[pos : pos + rng.randint(1, 700)]
        else:
            del out[pos:]
    return bytes(out), kinds == ["flip"]


def _chunked(blob: bytes, size: int) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for pos in range(0, len(blob), size):
            yield blob[pos : pos + size]

    return gen()


def _event(name: str) -> None:
    if currently_in_test_context():  # a hypothesis example (the bounds tests call read too)
        event(name)


def read(fmt: str, blob: bytes, size: int, *, limit: int = 1 << 20, most: int = 5) -> Any:
    """The answer's members, or the typed error it raised (anything else propagates)."""
    reader = ArchiveReader(
        fmt.split()[0], shard=ABOUT, config=ClientConfig(max_member_size=limit), max_members=most
    )

    async def members() -> list[tuple[str, bytes]]:
        return [m async for m in reader.stream(_chunked(blob, size))]

    with bounded(10):
        try:
            got = asyncio.run(members())
        except AISLoaderError as exc:
            _event(type(exc).__name__)
            return exc
    _event("read whole")
    assert len(got) <= most
    assert all(len(data) <= limit for _, data in got)
    return got


@FUZZ
@given(fmt=st.sampled_from(sorted(ANSWERS)), data=st.data(), size=st.integers(1, 4000))
def test_mutated_answers_raise_only_typed_errors(fmt: str, data: st.DataObject, size: int) -> None:
    blob, one_flip = data.draw(mutated(ANSWERS[fmt]))
    got = read(fmt, blob, size, limit=data.draw(st.sampled_from([1 << 20, 1500])))
    if one_flip and fmt != ".tar" and isinstance(got, list):
        assert got == MEMBERS[: len(got)], fmt
        if fmt == ".tgz":
            assert got == MEMBERS


@settings(FUZZ, max_examples=100)
@given(
    fmt=st.sampled_from(sorted(ANSWERS)), blob=st.binary(max_size=3000), size=st.integers(1, 500)
)
def test_random_answers_raise_only_typed_errors(fmt: str, blob: bytes, size: int) -> None:
    read(fmt, blob, size)


def _peak(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        with bounded(20):
            run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _with_sizes(blob: bytes, declared: int) -> bytes:
    """A one-member zip with the sizes its headers declare set to ``declared``."""
    out = bytearray(blob)
    local, central = out.find(b"PK\x03\x04"), out.find(b"PK\x01\x02")
    struct.pack_into("<I", out, local + 22, declared)  # uncompressed size, local header
    struct.pack_into("<I", out, central + 24, declared)  # uncompressed size, central directory
    return bytes(out)


MANY = [(f"b/m{i}", b"%d" % i) for i in range(1000)]
ZEROS = zip_answer([("b/z", bytes(8 << 20))])  # a zip bomb: 8 MiB in about 8 KB
BOMBS: dict[str, tuple[str, bytes, type[Exception], str]] = {
    "zip declaring 4 GiB": (".zip", _with_sizes(ZEROS, 0xFFFFFFF0), ShardFormatError, "declares"),
    "zip bomb over the limit": (".zip", ZEROS, ShardFormatError, "above max_member_size"),
    "zip declaring 100 bytes": (".zip", _with_sizes(ZEROS, 100), ShardFormatError, "CRC"),
    "tgz bomb over the limit": (
        ".tgz",
        gzip.compress(tar_of([("b/z", bytes(8 << 20))])),
        ShardFormatError,
        "max_member_size",
    ),
    "tgz of more members": (".tgz", gzip.compress(tar_of(MANY)), DataError, "more members"),
    "zip of more members": (".zip", zip_answer(MANY), DataError, "more members"),
}


@pytest.mark.parametrize("case", sorted(BOMBS))
def test_declared_sizes_and_counts_are_bounded_before_inflating(case: str) -> None:
    fmt, blob, error, text = BOMBS[case]
    got: list[Any] = []
    peak = _peak(lambda: got.append(read(fmt, blob, 1 << 16, limit=1 << 20)))
    assert isinstance(got[0], error), got[0]
    assert text in str(got[0])
    assert peak < (4 << 20) + 3 * len(blob)


class _Multipart:
    """One loopback server for every example: answers ``body`` as the cluster's buffered
    (multipart) get-batch answer, on its own loop thread."""

    BOUNDARY = "b0undary"

    def __init__(self) -> None:
        self.body = b""
        self.endpoint = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    @classmethod
    def envelope(cls, archive: bytes) -> bytes:
        head = (
            f'--{cls.BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n'
            'Content-Type: application/json\r\n\r\n{"out":[]}\r\n'
            f'--{cls.BOUNDARY}\r\nContent-Disposition: form-data; name="archive"; '
            'filename="a.tar"\r\nContent-Type: application/x-tar\r\n\r\n'
        )
        return head.encode() + archive + f"\r\n--{cls.BOUNDARY}--\r\n".encode()

    async def _answer(self, request: web.Request) -> web.Response:
        ctype = f"multipart/form-data; boundary={self.BOUNDARY}"
        return web.Response(body=self.body, headers={"Content-Type": ctype})

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with fake_server([web.get("/moss", self._answer)]) as self.endpoint:
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> _Multipart:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()


@pytest.fixture(scope="module")
def multipart() -> Iterator[_Multipart]:
    with _Multipart() as server:
        yield server


async def _fetch(endpoint: str) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(endpoint + "/moss") as resp:
        return await read_multipart(resp, 1 << 20, ABOUT)


@pytest.mark.filterwarnings("ignore::aiohttp.BadContentDispositionHeader")
@pytest.mark.filterwarnings("ignore::aiohttp.BadContentDispositionParam")
@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_mutated_multipart_envelopes_raise_only_typed_errors(
    multipart: _Multipart, data: st.DataObject
) -> None:
    multipart.body, _ = data.draw(mutated(_Multipart.envelope(TAR)))
    archive, error = b"", None
    with bounded(10):
        try:
            archive = asyncio.run(_fetch(multipart.endpoint))
        except AISLoaderError as exc:
            error = exc
    event(type(error).__name__ if error else "read whole")
    assert error is None or not isinstance(error, ShardFormatError) or error.shard == ABOUT
    assert len(archive) <= 1 << 20
