"""WebDataset shard throughput: aisloader's AISShardReader vs the official plugin's.

Starts the embedded cluster in its own process (``python -m aisloader serve --root DIR``),
PUTs S shards × N samples × 3 members (``jpg`` of --jpg-kib KiB of random bytes, ``cls``,
``json``; the package bench's ``shard_bytes``), then reads every sample once with each reader,
each in a fresh Python process so its peak RSS is its own, through a DataLoader (batches of 32,
``--workers`` fork workers; 0 reads in that process). Readers alternate for --repeat rounds;
the table shows the median round. Peak RSS is measured while reading only: the process resets
its ``VmHWM`` after the imports and the reader's construction (torch's import alone can peak
higher than a streaming reader ever gets). With --workers > 0 memory is not shown (a forked
worker's RSS counts shared library pages only once it touches them, so its peak says little);
each worker holds what one reader holds with --workers 0. Linux only.

Run: ``.venv/bin/python benchmarks/shard_throughput.py [--shards 20] [--samples 1000]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from _common import SHARD_PREFIX, put_shards, serve

BUCKET = "bench-shards"
READERS = ("aisloader", "official")


# ----------------------------------------------------------------- one reader, own process


def make_reader(which: str, endpoint: str) -> Any:
    if which == "aisloader":
        from aisloader.torch import AISShardReader

        return AISShardReader(f"ais://{BUCKET}/{SHARD_PREFIX}", endpoint=endpoint)
    from aistore.pytorch import AISShardReader as PluginShardReader
    from aistore.sdk import Client

    bucket = Client(endpoint).bucket(BUCKET)
    return PluginShardReader(bucket, prefix_map={bucket: SHARD_PREFIX})


def run_one(which: str, endpoint: str, workers: int) -> dict[str, float]:
    """Read every sample once (batches of 32 through a DataLoader, the way the package's bench
    reads); return samples, bytes, seconds and RSS figures."""
    from aisloader.bench.baselines import drive
    from aisloader.bench.meter import Meter

    reader = make_reader(which, endpoint)
    base_rss = _reset_peak_rss()  # imports (torch) peak far above what reading needs
    meter = drive(Meter(), reader, workers, 32, "fork")
    own = _status_kib("VmHWM") * 1024
    return {
        "samples": meter.objects,
        "bytes": meter.nbytes,
        "seconds": (meter.last or meter.started) - meter.started,
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
    with serve("aisloader-bench-") as (_, endpoint):
        total = put_shards(endpoint, BUCKET, args.shards, args.samples, args.jpg_kib << 10)
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


if __name__ == "__main__":
    main()
