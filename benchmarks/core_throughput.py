"""Core client throughput: aisloader's get_many vs a plain aiohttp loop vs the official SDK.

The embedded cluster runs in its own process (``python -m aisloader serve``). Measured:
objects/s for N small objects (ours with window W, plain aiohttp with the same concurrency
and the same manual redirect handling, the SDK's sequential ``get_reader().read_all()``),
then GB/s for a few large objects (ours vs plain aiohttp). Prints a markdown table.

Run: ``.venv/bin/python benchmarks/core_throughput.py [--small 3000] [--large 12]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
from _common import put_objects, serve
from yarl import URL

from aisloader import AsyncClient, ClientConfig

SMALL, LARGE = "bench-core", "bench-core-large"  # buckets of the small and the large objects


async def ours(endpoint: str, bucket: str, names: list[str], window: int) -> int:
    config = ClientConfig(window=window, pool_size=max(64, window))
    async with AsyncClient(endpoint, config=config) as c:
        total = 0
        async for _, data in c.get_many([(bucket, n) for n in names], window=window):
            total += len(data)
        return total


async def plain(
    endpoint: str, bucket: str, names: list[str], window: int, chunked: bool = False
) -> int:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=max(64, window))
    timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=60)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as s:
        queue = iter(names)
        total = 0

        async def worker() -> None:
            nonlocal total
            for name in queue:
                url = URL(f"{endpoint}/v1/objects/{bucket}/{name}?provider=ais", encoded=True)
                while True:
                    async with s.get(url, allow_redirects=False) as r:
                        if r.status in (301, 307):
                            await r.read()
                            url = URL(r.headers["Location"], encoded=True)
                            continue
                        r.raise_for_status()
                        if chunked:  # read in 1 MiB chunks and join, like get_many does
                            parts = [c async for c in r.content.iter_chunked(1 << 20)]
                            total += len(b"".join(parts))
                        else:
                            total += len(await r.read())
                        break

        await asyncio.gather(*(worker() for _ in range(window)))
        return total


def sdk(endpoint: str, names: list[str]) -> int:
    from aistore.sdk import Client as SdkClient

    bucket = SdkClient(endpoint).bucket(SMALL)
    return sum(len(bucket.object(n).get_reader().read_all()) for n in names)


def best_of(repeat: int, fn: Callable[[], int]) -> tuple[float, int]:
    times, nbytes = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        nbytes = fn()
        times.append(time.perf_counter() - t0)
    return min(times), nbytes


def run_async(make: Callable[[], Awaitable[int]]) -> Callable[[], int]:
    return lambda: asyncio.run(make())  # type: ignore[arg-type]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", type=int, default=3000, help="number of 10 KiB objects")
    p.add_argument("--sdk-small", type=int, default=600, help="objects read by the SDK")
    p.add_argument("--large", type=int, default=12, help="number of large objects")
    p.add_argument("--large-mib", type=int, default=16, help="large object size in MiB")
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--large-window", type=int, default=4)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    with serve() as (_, endpoint):
        small = put_objects(endpoint, SMALL, args.small, 10 << 10)
        large = put_objects(endpoint, LARGE, args.large, args.large_mib << 20)
        rows = []
        for label, fn, n in [
            (
                f"aisloader get_many (window {args.window})",
                run_async(lambda: ours(endpoint, SMALL, small, args.window)),
                len(small),
            ),
            (
                f"plain aiohttp ({args.window} workers)",
                run_async(lambda: plain(endpoint, SMALL, small, args.window)),
                len(small),
            ),
            (
                "official SDK, sequential read_all()",
                lambda: sdk(endpoint, small[: args.sdk_small]),
                args.sdk_small,
            ),
        ]:
            secs, _ = best_of(args.repeat if "SDK" not in label else 2, fn)
            rows.append((label, f"{n / secs:,.0f} objects/s"))
        for label, fn in [
            (
                f"aisloader get_many, {args.large_mib} MiB (window {args.large_window})",
                run_async(lambda: ours(endpoint, LARGE, large, args.large_window)),
            ),
            (
                f"plain aiohttp `read()`, {args.large_mib} MiB ({args.large_window} workers)",
                run_async(lambda: plain(endpoint, LARGE, large, args.large_window)),
            ),
            (
                f"plain aiohttp 1 MiB chunks, {args.large_mib} MiB ({args.large_window} workers)",
                run_async(lambda: plain(endpoint, LARGE, large, args.large_window, chunked=True)),
            ),
        ]:
            secs, nbytes = best_of(args.repeat, fn)
            rows.append((label, f"{nbytes / secs / 1e9:.2f} GB/s"))
        print(f"| measurement (best of {args.repeat}) | result |\n|---|---|")
        for label, value in rows:
            print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
