"""Baselines measured beside aisloader: the official ``aistore.pytorch`` datasets and a plain
aiohttp loop (the ceiling the cluster allows for one client process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aisloader.bench.meter import Meter

__all__ = ["aiohttp_core", "drive", "plugin_loader"]


def aiohttp_core(
    endpoint: str, bucket: str, names: list[str], window: int, direct: bool = False
) -> Meter:
    """GET every object with ``window`` requests in flight (redirects followed by aiohttp);
    ``direct``: each object's target URL is asked of the proxy first, untimed, then the timed
    GETs go straight to it (the one-hop ceiling that direct reads are measured against)."""
    return asyncio.run(_aiohttp_core(endpoint, bucket, names, window, direct))


async def _aiohttp_core(
    endpoint: str, bucket: str, names: list[str], window: int, direct: bool
) -> Meter:
    import aiohttp
    from yarl import URL

    meter = Meter()
    urls = {n: URL(f"{endpoint}/v1/objects/{bucket}/{n}?provider=ais") for n in names}
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=window)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    for name in names:
        queue.put_nowait(name)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def resolve() -> None:
            while (name := queue.get_nowait() if not queue.empty() else None) is not None:
                async with session.get(urls[name], allow_redirects=False) as resp:
                    await resp.read()
                    urls[name] = URL(resp.headers["Location"], encoded=True)

        if direct:
            await asyncio.gather(*(resolve() for _ in range(window)))
            for name in names:
                queue.put_nowait(name)

        async def worker() -> None:
            while (name := queue.get_nowait() if not queue.empty() else None) is not None:
                url = urls[name]
                t0 = time.perf_counter()
                async with session.get(url) as resp:
                    resp.raise_for_status()
                    data = await resp.read()
                meter.latency((time.perf_counter() - t0) * 1000.0)
                meter.delivered(1, len(data))

        meter.restart()
        await asyncio.gather(*(worker() for _ in range(window)))
    return meter


def plugin_loader(
    endpoint: str,
    bucket: str,
    mode: str,
    prefix: str,
    num_workers: int,
    batch_size: int,
    start_method: str,
    max_batch_size: int = 32,
    step: float = 0.0,
) -> Meter:
    """The official plugin's dataset for ``mode`` through a DataLoader."""
    import aistore.pytorch  # noqa: F401  (import time is not time to first sample)
    from aistore.sdk import Client

    meter = Meter()
    client = Client(endpoint)
    bck = client.bucket(bucket)
    dataset = _plugin_dataset(mode, client, bck, prefix, max_batch_size)
    return drive(meter, dataset, num_workers, batch_size, start_method, step)


def drive(
    meter: Meter, dataset: Any, num_workers: int, batch_size: int, method: str, step: float = 0.0
) -> Meter:
    """Read ``dataset`` once through a DataLoader (batches kept as lists), metering it; with
    ``step`` seconds of simulated training after each batch (a sleep: a GPU step leaves the
    host's cores to the loader), the time spent waiting for batches is metered too."""
    from torch.utils.data import DataLoader

    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        multiprocessing_context=method if num_workers else None,
        collate_fn=_keep,
    )
    meter.restart()
    asked = time.perf_counter()
    for batch in loader:
        meter.delivered(len(batch), sum(_nbytes(item) for item in batch))
        meter.waited += time.perf_counter() - asked
        if step:
            time.sleep(step)
        asked = time.perf_counter()
    meter.finished()
    return meter


def _plugin_dataset(mode: str, client: Any, bck: Any, prefix: str, max_batch_size: int) -> Any:
    from aistore import pytorch as plugin

    if mode == "map":
        return plugin.AISMapDataset(bck, prefix_map={bck: prefix})
    if mode == "iter":
        return plugin.AISIterDataset(bck, prefix_map={bck: prefix})
    if mode == "shard":
        return plugin.AISShardReader(bck, prefix_map={bck: prefix})
    if mode == "batch":
        from aistore.pytorch.batch_iter_dataset import AISBatchIterDataset

        return AISBatchIterDataset(
            bck, client=client, prefix_map={bck: prefix}, max_batch_size=max_batch_size
        )
    raise ValueError(f"no plugin dataset for mode {mode!r}")


def _keep(batch: list[Any]) -> list[Any]:
    return batch


def _nbytes(item: Any) -> int:
    if isinstance(item, bytes | bytearray):
        return len(item)
    if isinstance(item, dict):
        return sum(_nbytes(v) for v in item.values())
    if isinstance(item, Iterable) and not isinstance(item, str):
        return sum(_nbytes(v) for v in item)
    return 0
