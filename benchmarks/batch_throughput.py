"""Get-batch throughput: aisloader get_batch vs aisloader get_many vs the official plugin.

The embedded cluster runs in its own process (``python -m aisloader serve --root DIR``). For N
objects of 10 KiB, measured in the same run against the same cluster: samples/s of
``AsyncClient.get_batch`` (.tar, streamed and buffered, batch sizes 32/128/512), of our
per-object path ``AsyncClient.get_many`` (window 64), of our ``AISBatchIterDataset`` (sync,
through the bridge) and of the official ``aistore.pytorch`` ``AISBatchIterDataset`` (same batch
sizes). Prints a markdown table; best of ``--repeat`` interleaved rounds. Wall-clock rates
swing with other load on the machine, so the CPU time per sample of the cluster process and of
this process (both read from ``/proc``, Linux only) is reported too: it hardly depends on load.

Run: ``.venv/bin/python benchmarks/batch_throughput.py [--objects 4096] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from _common import OBJ_PREFIX, cpu_seconds, put_objects, serve

from aisloader import AsyncClient, ClientConfig

BUCKET = "bench-batch"
SIZE = 10 << 10


async def ours_batch(
    endpoint: str, names: list[str], batch: int, in_flight: int, streaming: bool = True
) -> int:
    config = ClientConfig(batches_in_flight=in_flight)
    count = 0
    refs = [(BUCKET, n) for n in names]
    async with AsyncClient(endpoint, config=config) as c:
        async for _, data in c.get_batch(refs, batch_size=batch, streaming=streaming):
            assert isinstance(data, bytes)
            assert len(data) == SIZE
            count += 1
    return count


async def ours_many(endpoint: str, names: list[str], window: int) -> int:
    count = 0
    async with AsyncClient(endpoint, config=ClientConfig(window=window)) as c:
        async for _, data in c.get_many([(BUCKET, n) for n in names]):
            assert len(data) == SIZE
            count += 1
    return count


def ours_dataset(endpoint: str, names: list[str], batch: int) -> int:
    from aisloader.torch import AISBatchIterDataset, ObjectList

    ds = AISBatchIterDataset(ObjectList(BUCKET, names), endpoint=endpoint, max_batch_size=batch)
    return sum(1 for _ in ds)


def official_dataset(endpoint: str, names: list[str], batch: int) -> int:
    from aistore.pytorch.batch_iter_dataset import AISBatchIterDataset
    from aistore.sdk import Client

    client = Client(endpoint)
    bck = client.bucket(BUCKET)
    ds = AISBatchIterDataset(bck, client=client, prefix_map={bck: OBJ_PREFIX}, max_batch_size=batch)
    count = 0
    for _name, data in ds:
        assert len(data) == SIZE
        count += 1
    return count


@dataclass
class Result:
    """Best of the rounds: samples/s, and CPU microseconds per sample in each process."""

    rate: float = 0.0
    server_us: float = float("inf")
    client_us: float = float("inf")


def timed(fn: Callable[[], int], expect: int, server_pid: int, best: Result) -> None:
    """Run ``fn`` (which returns how many samples it read) once; fold the numbers into best."""
    server0, client0 = cpu_seconds(server_pid), cpu_seconds(os.getpid())
    t0 = time.perf_counter()
    got = fn()
    elapsed = time.perf_counter() - t0
    assert got == expect, (got, expect)
    best.rate = max(best.rate, expect / elapsed)
    best.server_us = min(best.server_us, (cpu_seconds(server_pid) - server0) / expect * 1e6)
    best.client_us = min(best.client_us, (cpu_seconds(os.getpid()) - client0) / expect * 1e6)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=4096, help="number of 10 KiB objects")
    p.add_argument("--batches", default="32,128,512", help="batch sizes")
    p.add_argument("--in-flight", type=int, default=2, help="get-batch requests in flight")
    p.add_argument("--window", type=int, default=64, help="get_many window")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--skip-official", action="store_true")
    args = p.parse_args()
    sizes = [int(b) for b in args.batches.split(",")]
    with serve("bench-batch-") as (pid, endpoint):
        names = put_objects(endpoint, BUCKET, args.objects, SIZE)
        rows = _measure(endpoint, names, sizes, args, pid)
    base = rows[0][1].rate
    print(f"\n{args.objects} objects of 10 KiB, best of {args.repeat} rounds\n")
    print("| path | samples/s | × get_many | server CPU µs/sample | client CPU µs/sample |")
    print("|---|---:|---:|---:|---:|")
    for label, r in rows:
        print(
            f"| {label} | {r.rate:,.0f} | {r.rate / base:.2f} | {r.server_us:.0f} "
            f"| {r.client_us:.0f} |"
        )


def _measure(
    endpoint: str, names: list[str], sizes: list[int], args: argparse.Namespace, server_pid: int
) -> list[tuple[str, Result]]:
    """Best of each path; rounds interleave the paths so machine noise hits all alike."""
    paths = _paths(endpoint, names, sizes, args)
    best = {label: Result() for label in paths}
    for r in range(args.repeat):
        for label, fn in paths.items():
            timed(fn, len(names), server_pid, best[label])
        print(f"round {r + 1}/{args.repeat} done", file=sys.stderr)
    return list(best.items())


def _paths(
    endpoint: str, names: list[str], sizes: list[int], args: argparse.Namespace
) -> dict[str, Callable[[], int]]:
    paths: dict[str, Callable[[], int]] = {
        f"aisloader get_many (window {args.window})": lambda: asyncio.run(
            ours_many(endpoint, names, args.window)
        )
    }
    for streaming in (True, False):
        mode = "streamed" if streaming else "buffered"
        for b in sizes:
            label = f"aisloader get_batch {mode}, batch {b} ({args.in_flight} in flight)"

            def run(b: int = b, streaming: bool = streaming) -> int:
                return asyncio.run(ours_batch(endpoint, names, b, args.in_flight, streaming))

            paths[label] = run
    for b in sizes:
        label = f"aisloader AISBatchIterDataset (streamed), batch {b}"
        paths[label] = functools.partial(ours_dataset, endpoint, names, b)
    if not args.skip_official:
        for b in sizes:
            label = f"official AISBatchIterDataset (streamed), batch {b}"
            paths[label] = functools.partial(official_dataset, endpoint, names, b)
    return paths


if __name__ == "__main__":
    main()
