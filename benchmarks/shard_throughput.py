"""WebDataset shard throughput: aisloader's AISShardReader vs the official plugin's.

Starts the embedded cluster in its own process (``python -m aisloader serve --root DIR``),
PUTs S shards × N samples × 3 members (``jpg`` of --jpg-kib KiB of random bytes, ``cls``,
``json``), then reads every sample once with each reader, each in a fresh Python process so
its peak RSS is its own. Readers alternate for --repeat rounds; the table shows
the median round. Peak RSS is measured while reading only: the process resets its ``VmHWM``
after the imports and the reader's construction (torch's import alone can peak higher than a
streaming reader ever gets). With --workers > 0 each reader runs under a DataLoader with that
many workers (fork); memory is then not shown (a forked worker's RSS counts shared library
pages only once it touches them, so its peak says little); each worker holds what one reader
holds with --workers 0. Linux only.

Run: ``.venv/bin/python benchmarks/shard_throughput.py [--shards 20] [--samples 1000]``
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Any

from aisloader.bench.serve import start_cluster

BUCKET = "bench-shards"
PREFIX = "shards/"
READERS = ("aisloader", "official")


def make_shard(index: int, samples: int, jpg: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for k in range(samples):
            key = f"{index:03d}-{k:06d}"
            meta = json.dumps({"shard": index, "sample": k, "label": k % 10}).encode()
            for ext, data in (("jpg", os.urandom(jpg)), ("cls", b"%d" % (k % 10)), ("json", meta)):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size, info.mtime = len(data), 1_700_000_000
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def populate(endpoint: str, shards: int, samples: int, jpg: int) -> int:
    from aisloader import AsyncClient

    total = 0
    async with AsyncClient(endpoint) as client:
        await client.create_bucket(BUCKET, exist_ok=True)
        for s in range(shards):
            blob = make_shard(s, samples, jpg)
            total += len(blob)
            await client.put((BUCKET, f"{PREFIX}shard-{s:04d}.tar"), blob)
    return total


# ----------------------------------------------------------------- one reader, own process


def _nbytes(item: Any) -> int:
    if isinstance(item, bytes | bytearray):
        return len(item)
    if isinstance(item, dict):
        return sum(_nbytes(v) for v in item.values())
    if isinstance(item, tuple | list):
        return sum(_nbytes(v) for v in item)
    return 0


def _keep(batch: list[Any]) -> list[Any]:
    return batch


def make_reader(which: str, endpoint: str) -> Any:
    if which == "aisloader":
        from aisloader.torch import AISShardReader

        return AISShardReader(f"ais://{BUCKET}/{PREFIX}", endpoint=endpoint)
    from aistore.pytorch import AISShardReader as PluginShardReader
    from aistore.sdk import Client

    bucket = Client(endpoint).bucket(BUCKET)
    return PluginShardReader(bucket, prefix_map={bucket: PREFIX})


def run_one(which: str, endpoint: str, workers: int) -> dict[str, float]:
    """Read every sample once; return samples, bytes, seconds and RSS figures."""
    from torch.utils.data import DataLoader

    reader = make_reader(which, endpoint)
    base_rss = _reset_peak_rss()  # imports (torch) peak far above what reading needs
    samples = nbytes = 0
    start = time.perf_counter()
    if workers:
        loader = DataLoader(
            reader,
            batch_size=32,
            num_workers=workers,
            multiprocessing_context="fork",
            collate_fn=_keep,
        )
        for batch in loader:
            samples += len(batch)
            nbytes += sum(_nbytes(s) for s in batch)
    else:
        for sample in reader:
            samples += 1
            nbytes += _nbytes(sample)
    seconds = time.perf_counter() - start
    own = _status_kib("VmHWM") * 1024
    return {
        "samples": samples,
        "bytes": nbytes,
        "seconds": seconds,
        "peak_rss": own,
        "base_rss": base_rss,
    }


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset this process's peak RSS (``VmHWM``) and return the current RSS in bytes."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kib("VmRSS") * 1024


def measure(which: str, endpoint: str, workers: int) -> dict[str, float]:
    """Run :func:`run_one` in a fresh interpreter."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--run",
            which,
            "--endpoint",
            endpoint,
            "--workers",
            str(workers),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ----------------------------------------------------------------- report


def table(results: dict[str, list[dict[str, float]]], workers: int) -> str:
    lines = [
        f"| reader (workers={workers}) | samples | seconds | samples/s | MB/s "
        "| peak RSS MiB | peak − start MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for which, runs in results.items():
        run = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]  # the median round
        rate = run["samples"] / run["seconds"]
        mbs = run["bytes"] / run["seconds"] / 1e6
        peak, growth = run["peak_rss"] / 2**20, (run["peak_rss"] - run["base_rss"]) / 2**20
        memory = f"{peak:,.0f} | {growth:,.0f}" if workers == 0 else "— | —"
        lines.append(
            f"| {which} | {run['samples']:,.0f} | {run['seconds']:.2f} | {rate:,.0f} "
            f"| {mbs:,.1f} | {memory} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shards", type=int, default=20)
    p.add_argument("--samples", type=int, default=1000, help="samples per shard")
    p.add_argument("--jpg-kib", type=int, default=10, help="size of each jpg member in KiB")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, nargs="*", default=[0], help="DataLoader workers")
    p.add_argument("--run", choices=READERS, help=argparse.SUPPRESS)
    p.add_argument("--endpoint", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.run:  # child mode: one reader, print its figures as JSON
        print(json.dumps(run_one(args.run, args.endpoint, args.workers[0])))
        return
    with tempfile.TemporaryDirectory(prefix="aisloader-bench-") as root:
        proc, endpoint = start_cluster(root)
        try:
            total = asyncio.run(populate(endpoint, args.shards, args.samples, args.jpg_kib << 10))
            print(
                f"{args.shards} shards × {args.samples} samples × 3 members, "
                f"{total / 1e6:,.0f} MB of shards; median of {args.repeat} rounds\n"
            )
            for workers in args.workers:
                results: dict[str, list[dict[str, float]]] = {w: [] for w in READERS}
                for _ in range(args.repeat):
                    for which in READERS:
                        results[which].append(measure(which, endpoint, workers))
                counts = {r[-1]["samples"] for r in results.values()}
                assert len(counts) == 1, f"readers disagree on the sample count: {counts}"
                print(table(results, workers) + "\n")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
