"""Memory: a 1 GiB shard streams through ShardStream and AISShardReader from the embedded
cluster while the process's peak RSS grows by less than 100 MiB.

The shard (512 samples of a 2 MiB ``.bin`` and a small ``.cls``) is written straight into the
cluster's storage root. What may be held at once is counted in samples, each at most the
largest sample (~2 MiB): the interleave queue (``shards_in_flight`` × 4 = 8), one sample per
stage (pump, grouper, parser, consumer), one chunk (1 MiB), and for the sync reader the bridge
(2 × ``bridge_queue`` = 16 lists; a list closes at 256 KiB, so here one sample each) — about
60 MiB in all, measured far lower.
Peak RSS is read from ``VmHWM`` after resetting it through ``/proc/self/clear_refs``.
"""

from __future__ import annotations

import asyncio
import re
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _shared import FAST

from aisloader.core.client import AsyncClient
from aisloader.core.streams.shards import ShardStream
from aisloader.server import LocalCluster
from aisloader.torch import AISShardReader

MIB = 1 << 20
MEMBER = 2 * MIB
SAMPLES = 512  # 512 × 2 MiB = 1 GiB of member data
BOUND = 100 * MIB
CONFIG = FAST.replace(bridge_queue=8, shards_in_flight=2, chunk_size=MIB)
pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to read peak RSS"
)


def _write_shard(path: Path) -> None:
    """A 1 GiB tar written member by member (never held in memory)."""
    template = memoryview(bytes(range(256)) * (MEMBER // 256))
    with open(path, "wb") as f:
        for i in range(SAMPLES):
            for name, head, size in (
                (f"{i:05d}.bin", b"%08d" % i, MEMBER),
                (f"{i:05d}.cls", b"", 8),
            ):
                info = tarfile.TarInfo(name)
                info.size, info.mtime = size, 1_700_000_000
                f.write(info.tobuf(tarfile.USTAR_FORMAT))
                f.write(head or b"%08d" % i)
                f.write(template[8:size])
                f.write(bytes(-size % 512))
        f.write(bytes(1024))


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("bigroot")
    bdir = root / "data" / "ais" / "@#" / "big"
    bdir.mkdir(parents=True)
    shard = bdir / "shard.tar"
    _write_shard(shard)
    assert shard.stat().st_size > 1 << 30
    try:
        with LocalCluster(root=root) as cluster:
            yield cluster
    finally:
        shard.unlink()  # pytest keeps recent temp dirs: do not leave 1 GiB behind


def _rss() -> tuple[int, int]:
    """(current, peak) resident set size in bytes."""
    status = Path("/proc/self/status").read_text()
    now, peak = (int(re.search(rf"{k}:\s+(\d+)", status)[1]) for k in ("VmRSS", "VmHWM"))  # type: ignore[index]
    return now * 1024, peak * 1024


def _reset_peak() -> int:
    Path("/proc/self/clear_refs").write_text("5")
    return _rss()[0]


class Check:
    """Counts samples and checks each one's content cheaply."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, sample: dict[str, object]) -> None:
        key = f"{self.count:05d}"
        assert sample["__key__"] == key
        data, cls = sample["bin"], sample["cls"]
        assert isinstance(data, bytes)
        assert isinstance(cls, bytes)
        assert len(data) == MEMBER
        assert data[:8] == cls == key.zfill(8).encode()
        assert data[-1] == (MEMBER - 1) % 256
        self.count += 1


def test_shard_stream_1gib(big: LocalCluster) -> None:
    async def go() -> Check:
        check = Check()
        async with AsyncClient(big.endpoint, config=CONFIG) as client:
            async for sample in ShardStream("ais://big", client=client):
                check(sample)
        return check

    base = _reset_peak()
    start = time.monotonic()
    check = asyncio.run(go())
    took = time.monotonic() - start
    growth = _rss()[1] - base
    assert check.count == SAMPLES
    assert growth < BOUND, f"peak RSS grew by {growth / MIB:.0f} MiB"
    print(f"ShardStream: 1 GiB in {took:.1f} s, peak RSS growth {growth / MIB:.0f} MiB")


def test_shard_reader_1gib(big: LocalCluster) -> None:
    reader = AISShardReader("ais://big", endpoint=big.endpoint, config=CONFIG, sample_format="dict")
    base = _reset_peak()
    check = Check()
    start = time.monotonic()
    for sample in reader:
        check(sample)
    took = time.monotonic() - start
    growth = _rss()[1] - base
    assert check.count == SAMPLES
    assert growth < BOUND, f"peak RSS grew by {growth / MIB:.0f} MiB"
    print(f"AISShardReader: 1 GiB in {took:.1f} s, peak RSS growth {growth / MIB:.0f} MiB")
