"""aisloader's own modes, measured the same way as the baselines."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aisloader.bench.baselines import drive
from aisloader.bench.meter import Meter
from aisloader.config import ClientConfig

__all__ = ["core", "loader"]


def core(endpoint: str, bucket: str, prefix: str, window: int) -> tuple[Meter, int]:
    """List once, then ``get_many`` with ``window`` in flight; returns (meter, retries)."""
    return asyncio.run(_core(endpoint, bucket, prefix, window))


async def _core(endpoint: str, bucket: str, prefix: str, window: int) -> tuple[Meter, int]:
    from aisloader.core.client import AsyncClient
    from aisloader.core.listing.lister import build_manifest
    from aisloader.core.listing.sources import sources

    meter = Meter()
    config = ClientConfig.from_env(window=window)
    async with AsyncClient(endpoint, config=config) as client:
        manifest = await build_manifest(client, sources(f"ais://{bucket}/{prefix}"))
        meter.restart()
        started: dict[str, float] = {}

        async def refs() -> Any:
            for ref in manifest:
                started[ref.name] = time.perf_counter()
                yield ref

        async for ref, data in client.get_many(refs(), window=window):
            meter.latency((time.perf_counter() - started.pop(ref.name)) * 1000.0)
            meter.delivered(1, len(data))
        return meter, client.stats.retries


def loader(
    endpoint: str,
    bucket: str,
    mode: str,
    prefix: str,
    num_workers: int,
    batch_size: int,
    start_method: str,
    window: int,
    max_batch_size: int,
    step: float = 0.0,
) -> Meter:
    """aisloader's dataset for ``mode`` through a DataLoader."""
    import aisloader.torch  # noqa: F401  (import time is not time to first sample)

    meter = Meter()
    config = ClientConfig.from_env(window=window)
    dataset = _dataset(mode, f"ais://{bucket}/{prefix}", endpoint, config, max_batch_size)
    return drive(meter, dataset, num_workers, batch_size, start_method, step)


def _dataset(mode: str, url: str, endpoint: str, config: ClientConfig, max_batch: int) -> Any:
    from aisloader import torch as ours

    common: dict[str, Any] = {"endpoint": endpoint, "config": config}
    if mode == "map":
        return ours.AISMapDataset(url, **common)
    if mode == "iter":
        return ours.AISIterDataset(url, **common)
    if mode == "shard":
        return ours.AISShardReader(url, sample_format="dict", **common)
    if mode == "batch":
        return ours.AISBatchIterDataset(url, max_batch_size=max_batch, **common)
    raise ValueError(f"unknown mode {mode!r}")
