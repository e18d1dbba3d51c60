"""Large objects (issue 14): GB/s per process, ours vs plain aiohttp vs the official plugin.

The embedded cluster runs in its own process (``python -m aisloader serve``, temporary root).
K objects of S MiB are written once. Then every system reads every object fully, in this one
process, one object after another (the single-stream rows keep ``--window`` objects in flight):

- aisloader ``AsyncClient.get_parallel`` (concurrent ranges into one preallocated buffer), as
  ``bytes`` (the default: one copy out of the buffer) and as ``bytearray`` (the buffer itself);
- aisloader ``get_many`` (what ``get``/``get_many`` do today: one stream per object);
- ``aisloader.torch.AISParallelMapDataset``, indexed in this process (no DataLoader workers);
- plain aiohttp: the same ranges into a preallocated ``bytearray`` (the ceiling; one redirect
  per object, then every range straight to the target), and one stream per object in 1 MiB
  chunks, joined;
- the official ``aistore.pytorch.AISParallelMapDataset`` with its defaults (16 forked worker
  processes per object, 8 MiB ranges into ``/dev/shm``; its buffer is read in place, not copied).

One untimed round first checks every system's bytes (CRC-32 against the single-stream read).
Then ``--repeat`` interleaved rounds (the order rotates each round, so load from other jobs hits
all systems alike); the table shows each system's best round. CPU seconds per GB are summed
over all rounds: this process plus its reaped children (the plugin's workers), and the cluster.

Run: ``.venv/bin/python benchmarks/large_objects.py [--objects 8] [--mib 64] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from _common import cpu_seconds, put_objects, serve
from yarl import URL

from aisloader import AsyncClient, ClientConfig

BUCKET = "bench-large"
Sink = Callable[[int, Any], None]  # (object index, its bytes as any buffer)


@dataclass(frozen=True)
class Setup:
    endpoint: str
    names: list[str]
    size: int
    workers: int  # ranges per object, ours and plain aiohttp's
    min_part: int
    window: int  # objects in flight for the single-stream rows


@dataclass
class Row:
    label: str
    run: Callable[[Sink], None]
    best: float = float("inf")
    client_cpu: float = 0.0
    cluster_cpu: float = 0.0
    nbytes: int = 0
    crcs: list[int] = field(default_factory=list)


async def ours_parallel(st: Setup, sink: Sink, as_type: type[bytes] | type[bytearray]) -> None:
    async with AsyncClient(st.endpoint, config=ClientConfig()) as c:
        for i, name in enumerate(st.names):
            ref = (BUCKET, name)
            data = await c.get_parallel(
                ref, workers=st.workers, min_part=st.min_part, size=st.size, as_type=as_type
            )
            sink(i, data)


async def ours_many(st: Setup, sink: Sink) -> None:
    async with AsyncClient(st.endpoint, config=ClientConfig()) as c:
        pairs = c.get_many([(BUCKET, n) for n in st.names], window=st.window)
        i = 0
        async for _, data in pairs:
            sink(i, data)
            i += 1


def _session() -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=60)
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=256)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)


def _url(st: Setup, name: str) -> URL:
    return URL(f"{st.endpoint}/v1/objects/{BUCKET}/{name}?provider=ais", encoded=True)


async def plain_ranges(st: Setup, sink: Sink) -> None:
    """Per object: one redirect from the proxy, then ``workers`` ranges into one buffer."""
    parts = max(1, min(st.workers, st.size // st.min_part))
    step = -(-st.size // parts)
    async with _session() as s:
        for i, name in enumerate(st.names):
            async with s.get(_url(st, name), allow_redirects=False) as r:
                target = URL(r.headers["Location"], encoded=True)  # released unread
            buffer = bytearray(st.size)
            view = memoryview(buffer)
            await asyncio.gather(
                *(
                    _range_into(s, target, view, a, min(st.size, a + step))
                    for a in range(0, st.size, step)
                )
            )
            sink(i, buffer)


async def _range_into(
    s: aiohttp.ClientSession, target: URL, view: memoryview, start: int, stop: int
) -> None:
    headers = {"Range": f"bytes={start}-{stop - 1}"}
    async with s.get(target, headers=headers, allow_redirects=False) as r:
        assert r.status == 206, r.status
        async for chunk in r.content.iter_any():
            view[start : start + len(chunk)] = chunk
            start += len(chunk)
        assert start == stop, (start, stop)


async def plain_stream(st: Setup, sink: Sink) -> None:
    """One GET per object (redirect followed), 1 MiB chunks joined; ``window`` in flight."""
    todo = iter(enumerate(st.names))
    async with _session() as s:

        async def worker() -> None:
            for i, name in todo:
                async with s.get(_url(st, name)) as r:
                    r.raise_for_status()
                    sink(i, b"".join([c async for c in r.content.iter_chunked(1 << 20)]))

        await asyncio.gather(*(worker() for _ in range(st.window)))


def ours_dataset(st: Setup) -> Callable[[Sink], None]:
    from aisloader.torch import AISParallelMapDataset

    ds = AISParallelMapDataset(
        f"ais://{BUCKET}",
        endpoint=st.endpoint,
        config=ClientConfig(),
        num_workers=st.workers,
        min_part=st.min_part,
    )

    def run(sink: Sink) -> None:
        for i in range(len(ds)):
            name, data = ds[i]
            assert name == st.names[i], name
            sink(i, data)

    return run


def official_dataset(st: Setup) -> Callable[[Sink], None]:
    from aistore.pytorch import AISParallelMapDataset
    from aistore.sdk import Client

    ds = AISParallelMapDataset(Client(st.endpoint).bucket(BUCKET))  # its defaults

    def run(sink: Sink) -> None:
        for i in range(len(ds)):
            name, buf = ds[i]
            with buf:
                assert name == st.names[i], name
                sink(i, buf.buf)

    return run


def rows(st: Setup) -> list[Row]:
    def aio(fn: Callable[..., Any], *args: Any) -> Callable[[Sink], None]:
        return lambda sink: asyncio.run(fn(st, sink, *args))

    ranges = f"{max(1, min(st.workers, st.size // st.min_part))} ranges"
    return [
        Row(f"aisloader get_parallel → bytes ({ranges})", aio(ours_parallel, bytes)),
        Row(f"aisloader get_parallel → bytearray ({ranges})", aio(ours_parallel, bytearray)),
        Row(f"aisloader get_many, 1 stream/object (window {st.window})", aio(ours_many)),
        Row(f"aisloader AISParallelMapDataset[i] ({ranges})", ours_dataset(st)),
        Row(f"plain aiohttp, {ranges} into a bytearray", aio(plain_ranges)),
        Row(
            f"plain aiohttp, 1 stream/object, 1 MiB chunks (window {st.window})", aio(plain_stream)
        ),
        Row("aistore.pytorch AISParallelMapDataset[i] (defaults)", official_dataset(st)),
    ]


def measure(row: Row, st: Setup, cluster: int) -> None:
    def check(i: int, data: Any) -> None:
        assert len(data) == st.size, (row.label, i, len(data))

    self0, kids0 = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    k0, t0 = cpu_seconds(cluster), time.perf_counter()
    row.run(check)
    secs = time.perf_counter() - t0
    self1, kids1 = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    row.best = min(row.best, secs)
    row.nbytes += st.size * len(st.names)
    row.cluster_cpu += cpu_seconds(cluster) - k0
    for a, b in ((self0, self1), (kids0, kids1)):
        row.client_cpu += b.ru_utime - a.ru_utime + b.ru_stime - a.ru_stime


def verify(table: list[Row], st: Setup) -> None:
    """One untimed round: every system gives the same bytes as the single-stream read."""
    for row in table:
        crcs = row.crcs = [0] * len(st.names)

        def crc(i: int, data: Any, crcs: list[int] = crcs) -> None:
            crcs[i] = zlib.crc32(data)

        row.run(crc)
    want = next(r for r in table if "1 stream/object, 1 MiB" in r.label).crcs
    bad = [r.label for r in table if r.crcs != want]
    assert not bad, f"different bytes from: {bad}"


def report(table: list[Row], st: Setup, repeat: int, load: list[str]) -> None:
    official = next(r for r in table if r.label.startswith("aistore.pytorch"))
    ceiling = next(r for r in table if "into a bytearray" in r.label)
    total = st.size * len(st.names)
    print(f"\n{len(st.names)} objects × {st.size >> 20} MiB, best of {repeat} interleaved rounds")
    print(f"load average before / after: {load[0]} / {load[1]}\n")
    print(
        "| system | GB/s | vs official | % of aiohttp ranges | client CPU s/GB | cluster CPU s/GB |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in table:
        gbs = total / r.best / 1e9
        vs = gbs / (total / official.best / 1e9)
        pct = 100 * ceiling.best / r.best
        gb = r.nbytes / 1e9
        print(
            f"| {r.label} | {gbs:.2f} | {vs:.1f}× | {pct:.0f}% "
            f"| {r.client_cpu / gb:.2f} | {r.cluster_cpu / gb:.2f} |"
        )


def memory_costs(size: int, repeat: int = 5) -> str:
    """What one fresh object-sized buffer costs here (page faults) against a copy into memory
    already touched: the floor under every row that returns a new buffer per object."""
    src, dst = bytearray(b"x") * size, bytearray(size)
    fresh = copy = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        buf = bytearray(size)  # freed below: the next one is fresh memory again
        fresh = min(fresh, time.perf_counter() - t0)
        del buf
        t0 = time.perf_counter()
        dst[:] = src
        copy = min(copy, time.perf_counter() - t0)
    mib = size >> 20
    return (
        f"a fresh {mib} MiB bytearray: {fresh * 1e3:.0f} ms ({size / fresh / 1e9:.2f} GB/s); "
        f"a copy into touched memory: {copy * 1e3:.0f} ms ({size / copy / 1e9:.2f} GB/s)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=8, help="number of objects (K)")
    p.add_argument("--mib", type=int, default=64, help="object size in MiB (S)")
    p.add_argument("--repeat", type=int, default=5, help="timed rounds (best of)")
    p.add_argument("--workers", type=int, default=16, help="ranges per object (ours, aiohttp)")
    p.add_argument("--min-part-mib", type=int, default=4, help="smallest range in MiB")
    p.add_argument("--window", type=int, default=4, help="objects in flight, 1-stream rows")
    args = p.parse_args()
    load = [Path("/proc/loadavg").read_text().split()[:3]]
    with serve("aisloader-large-") as (cluster, endpoint):
        names = put_objects(endpoint, BUCKET, args.objects, args.mib << 20)
        st = Setup(
            endpoint, names, args.mib << 20, args.workers, args.min_part_mib << 20, args.window
        )
        table = rows(st)
        verify(table, st)
        for rnd in range(args.repeat):
            k = rnd % len(table)
            for row in table[k:] + table[:k]:
                measure(row, st, cluster)
        load.append(Path("/proc/loadavg").read_text().split()[:3])
    report(table, st, args.repeat, [" ".join(x) for x in load])
    print(f"\nmemory: {memory_costs(st.size)}")


if __name__ == "__main__":
    main()
