"""The iterator forms: async and sync, closing their source, and a 1 GiB stream in bounded RSS."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Iterator

import pytest

from aisloader.core.tar.members import TarMember, iter_tar_members, iter_tar_members_sync
from aisloader.errors import ShardFormatError

from .craft import END, header, member
from .gen import chunks

SHARD = "ais://b/s.tar"
BLOB = b"".join(member(f"k{i}.txt", b"%d" % i) for i in range(20)) + END


class Source:
    """An async chunk source that records whether it was closed."""

    def __init__(self, blob: bytes, size: int = 100) -> None:
        self.blob, self.size, self.closed, self.sent = blob, size, False, 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[bytes]:
        try:
            for chunk in chunks(self.blob, [self.size]):
                self.sent += len(chunk)
                yield chunk
        finally:
            self.closed = True


async def collect(source: Source, **kw: object) -> list[TarMember]:
    gen = iter_tar_members(aiter(source), shard=SHARD, max_member_size=1 << 20, **kw)  # type: ignore[arg-type]
    return [m async for m in gen]


async def test_async_equals_sync() -> None:
    source = Source(gzip.compress(BLOB), 33)
    got = await collect(source)
    sync = list(iter_tar_members_sync(chunks(BLOB, [7]), shard=SHARD, max_member_size=10))
    assert got == sync
    assert [m.data for m in got] == [b"%d" % i for i in range(20)]
    assert source.closed


async def test_early_stop_closes_the_source() -> None:
    source = Source(BLOB, 512)
    gen = iter_tar_members(aiter(source), shard=SHARD, max_member_size=10)
    first = await anext(gen)
    assert first.name == "k0.txt"
    assert not source.closed
    await gen.aclose()
    assert source.closed
    assert source.sent < len(BLOB)


async def test_error_closes_the_source() -> None:
    source = Source(BLOB[:-1024] + b"\x01" * 512)
    with pytest.raises(ShardFormatError):
        await collect(source)
    assert source.closed


def test_sync_truncated_raises() -> None:
    with pytest.raises(ShardFormatError, match="end-of-archive"):
        list(iter_tar_members_sync([BLOB[:-1024]], shard=SHARD, max_member_size=10))


def _vm_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _gib_stream(count: int, size: int) -> Iterator[bytes]:
    """``count`` members of ``size`` bytes as uneven chunks, generated on the fly."""
    body = b"\xab" * size
    cut = 300_001
    for i in range(count):
        yield header(f"shard/m{i:04d}.bin", size) + body[:cut]
        yield body[cut : 2 * cut]
        yield body[2 * cut :]
    yield END


@pytest.mark.timeout(30)
def test_one_gib_stream_in_bounded_memory() -> None:
    """1000 x 1 MiB members stream through with RSS growth under 64 MiB (never the shard)."""
    count, size, bound = 1000, 1 << 20, 64 << 20
    members = iter_tar_members_sync(_gib_stream(count, size), shard=SHARD, max_member_size=size)
    seen = total = 0
    baseline = peak = 0
    for m in members:
        seen, total = seen + 1, total + len(m.data)
        if seen == 10:
            baseline = _vm_rss()
        elif seen > 10 and seen % 25 == 0:
            peak = max(peak, _vm_rss())
    assert (seen, total) == (count, count * size)
    assert peak - baseline < bound, f"RSS grew by {(peak - baseline) >> 20} MiB"
