"""Throughput of the embedded cluster: ``python -m aisloader serve`` in a subprocess, read by a
plain aiohttp client at a fixed concurrency, through the proxy (2 hops) and direct to owners.

    .venv/bin/python benchmarks/server_throughput.py [--small 5000] [--large 24] [--conc 64]

Prints a small Markdown table (objects/s for 10 KiB objects, GB/s for 16 MiB objects).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import aiohttp

from aisloader.server.hrw import owner

SMALL, LARGE = 10 * 1024, 16 * 1024 * 1024


async def _run(conc: int, n: int, job: Callable[[int], Awaitable[int]]) -> tuple[float, int]:
    """Run ``job(i)`` for i in range(n) with at most ``conc`` in flight; (seconds, bytes)."""
    it = iter(range(n))
    total = 0

    async def worker() -> None:
        nonlocal total
        for i in it:
            n = await job(i)  # not `total += await ...`: that reads total before awaiting
            total += n

    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for _ in range(conc):
            tg.create_task(worker())
    return time.perf_counter() - t0, total


async def _get(s: aiohttp.ClientSession, url: str) -> int:
    async with s.get(url) as r:
        r.raise_for_status()
        n = 0
        async for chunk in r.content.iter_chunked(1 << 20):
            n += len(chunk)
        return n


async def _put(s: aiohttp.ClientSession, ep: str, path: str, data: bytes) -> int:
    async with s.put(f"{ep}{path}", allow_redirects=False) as r:  # 307 first, no body sent
        loc = r.headers["Location"]
    async with s.put(loc, data=data) as r:
        r.raise_for_status()
    return len(data)


async def bench(
    ep: str, n_small: int, n_large: int, conc: int
) -> list[tuple[str, int, float, int]]:
    """Populate two buckets over HTTP, then read them via the proxy and direct."""
    rows: list[tuple[str, int, float, int]] = []
    conn = aiohttp.TCPConnector(limit=0, limit_per_host=conc)
    async with aiohttp.ClientSession(connector=conn) as s:
        for b in ("small", "large"):
            async with s.post(f"{ep}/v1/buckets/{b}", json={"action": "create-bck"}) as r:
                r.raise_for_status()
        async with s.get(f"{ep}/v1/daemon?what=smap") as r:
            tmap = (await r.json())["tmap"]
        digests = [(t, v["id_digest"]) for t, v in tmap.items()]

        def direct(b: str, name: str) -> str:
            tid = owner(f"ais/@#/{b}/{name}", digests)
            return f"{tmap[tid]['public_net']['direct_url']}/v1/objects/{b}/{name}"

        def put(b: str, data: bytes) -> Callable[[int], Awaitable[int]]:
            return lambda i: _put(s, ep, f"/v1/objects/{b}/o{i:06d}", data)

        def get(b: str, hop: bool) -> Callable[[int], Awaitable[int]]:
            if hop:
                return lambda i: _get(s, f"{ep}/v1/objects/{b}/o{i:06d}")
            return lambda i: _get(s, direct(b, f"o{i:06d}"))

        sizes = {"small": SMALL, "large": LARGE}
        counts = {"small": n_small, "large": n_large}
        for b, size in sizes.items():
            secs, nbytes = await _run(conc, counts[b], put(b, os.urandom(size)))
            rows.append((f"PUT {size >> 10} KiB (proxy 307 + target)", counts[b], secs, nbytes))
        for b, size in sizes.items():
            for hop, label in ((True, "via proxy (301 + target)"), (False, "direct to owner")):
                secs, nbytes = await _run(conc, counts[b], get(b, hop))
                rows.append((f"GET {size >> 10} KiB {label}", counts[b], secs, nbytes))
    return rows


def _table(rows: list[tuple[str, int, float, int]], conc: int) -> str:
    out = [
        f"concurrency {conc}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "",
        "| operation | objects | seconds | objects/s | GB/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, n, secs, nbytes in rows:
        out.append(f"| {name} | {n} | {secs:.2f} | {n / secs:,.0f} | {nbytes / secs / 1e9:.2f} |")
    return "\n".join(out)


def main() -> int:
    """Start the server, run the benchmark, stop the server; print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", type=int, default=5000, help="number of 10 KiB objects")
    p.add_argument("--large", type=int, default=24, help="number of 16 MiB objects")
    p.add_argument("--conc", type=int, default=64, help="requests in flight")
    p.add_argument("--targets", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="aisloader-bench-") as root:
        cmd = [sys.executable, "-m", "aisloader", "serve", "--root", root]
        cmd += ["--targets", str(args.targets)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            ep = proc.stdout.readline().strip()
            rows = asyncio.run(bench(ep, args.small, args.large, args.conc))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
    print(_table(rows, args.conc))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
