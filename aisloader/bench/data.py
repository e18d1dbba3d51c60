"""Synthetic benchmark data: plain objects and WebDataset shards, written with our client."""

from __future__ import annotations

import io
import json
import random
import tarfile
from collections.abc import Iterator

from aisloader.bench.options import BenchOptions
from aisloader.core.client import AsyncClient
from aisloader.core.stages.window import ordered_window

__all__ = ["OBJ_PREFIX", "SHARD_PREFIX", "generate", "object_names", "shard_bytes"]

OBJ_PREFIX = "bench/obj/"
SHARD_PREFIX = "bench/shards/"


def object_names(count: int) -> list[str]:
    """Names of the plain benchmark objects."""
    return [f"{OBJ_PREFIX}{i:07d}" for i in range(count)]


def _payloads(opts: BenchOptions) -> Iterator[bytes]:
    rng = random.Random(opts.seed)
    low, high = opts.object_size
    block = rng.randbytes(high)
    for i in range(opts.count):
        size = low if low == high else rng.randint(low, high)
        yield (i.to_bytes(8, "little") + block)[:size]


def shard_bytes(index: int, samples: int, member_size: int, seed: int) -> bytes:
    """One WebDataset shard: ``samples`` × (``.jpg`` bytes, ``.cls``, ``.json``)."""
    rng = random.Random(seed * 100_003 + index)
    blob = rng.randbytes(member_size)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for s in range(samples):
            key = f"{index:05d}/{s:06d}"
            parts = {
                "jpg": s.to_bytes(4, "little") + blob[4:],
                "cls": str(s % 1000).encode(),
                "json": json.dumps({"shard": index, "sample": s}).encode(),
            }
            for ext, data in parts.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def generate(client: AsyncClient, bucket: str, opts: BenchOptions) -> None:
    """Create the bucket (if needed) and write the objects and shards the modes read."""
    await client.create_bucket(bucket, exist_ok=True)

    def items() -> Iterator[tuple[str, bytes]]:  # lazily: never the whole dataset in memory
        yield from zip(object_names(opts.count), _payloads(opts), strict=True)
        if "shard" in opts.modes:
            for j in range(opts.shards):
                data = shard_bytes(j, opts.samples_per_shard, opts.member_size, opts.seed)
                yield f"{SHARD_PREFIX}shard-{j:05d}.tar", data

    async def put(item: tuple[str, bytes]) -> None:
        await client.put((bucket, item[0]), item[1])

    async for _ in ordered_window(items(), put, 32, ordered=False):
        pass
