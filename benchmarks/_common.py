"""What the benchmark scripts share: the embedded cluster in its own process, the synthetic data
(written by the package's own bench, ``aisloader.bench.data``) and CPU time from ``/proc``.

The scripts run as ``python benchmarks/<name>.py``, so this directory is on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from aisloader import AsyncClient
from aisloader.bench.data import OBJ_PREFIX, SHARD_PREFIX, generate, object_names
from aisloader.bench.options import BenchOptions
from aisloader.bench.serve import start_cluster

__all__ = ["OBJ_PREFIX", "SHARD_PREFIX", "cpu_seconds", "put_objects", "put_shards", "serve"]


@contextlib.contextmanager
def serve(tmp_prefix: str | None = None) -> Iterator[tuple[int, str]]:
    """Run ``python -m aisloader serve`` for the ``with`` block; yield its pid and endpoint.

    Objects are stored under a fresh temporary directory named ``tmp_prefix…`` (removed
    afterwards), or where ``serve`` puts them by default when ``tmp_prefix`` is None.
    """
    with contextlib.ExitStack() as stack:
        root = None
        if tmp_prefix is not None:
            root = stack.enter_context(tempfile.TemporaryDirectory(prefix=tmp_prefix))
        proc, endpoint = start_cluster(root)
        try:
            yield proc.pid, endpoint
        finally:
            proc.terminate()
            proc.wait(30)


def put_objects(endpoint: str, bucket: str, count: int, size: int) -> list[str]:
    """Create ``bucket`` with ``count`` objects of ``size`` bytes under ``OBJ_PREFIX``; return
    their names."""
    opts = BenchOptions(count=count, object_size=(size, size), modes=("core",))
    asyncio.run(_generate(endpoint, bucket, opts))
    return object_names(count)


def put_shards(endpoint: str, bucket: str, shards: int, samples: int, member_size: int) -> int:
    """Create ``bucket`` with ``shards`` WebDataset shards under ``SHARD_PREFIX`` (``samples`` ×
    ``.jpg`` of ``member_size`` bytes, ``.cls``, ``.json``); return their total size in bytes."""
    opts = BenchOptions(
        count=0,
        shards=shards,
        samples_per_shard=samples,
        member_size=member_size,
        modes=("shard",),
    )
    return asyncio.run(_generate(endpoint, bucket, opts, SHARD_PREFIX))


async def _generate(endpoint: str, bucket: str, opts: BenchOptions, measure: str = "") -> int:
    """Write the data of ``opts``; return the total size of the objects under ``measure``."""
    async with AsyncClient(endpoint) as client:
        await generate(client, bucket, opts)
        if not measure:
            return 0
        return sum([int(e.size or 0) async for e in client.list_objects(bucket, measure)])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (0 where ``/proc`` is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
