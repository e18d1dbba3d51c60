"""DataLoader throughput: aisloader's map/iterable datasets vs the official plugin's, vs a plain
aiohttp ceiling, vs aisloader's own async core with no DataLoader — same cluster, same run.

The embedded cluster runs in its own process (``python -m aisloader serve --root DIR``). For N
objects of 10 KiB, measured one after the other in interleaved rounds (best of ``--repeat``):

* plain aiohttp, ``--window`` requests in flight, straight to each object's target (its URL
  asked of the proxy first, untimed: the one-hop ceiling one client process gets, and what
  our direct reads are measured against), and through the proxy's redirect (two hops);
* ``AsyncClient.get_many`` after one listing (our async core, no DataLoader, no bridge);
* ``aisloader.torch.AISMapDataset`` / ``AISIterDataset`` through a DataLoader (batch 64,
  ``num_workers`` 0 and 2, fork) with the same window;
* ``aistore.pytorch.AISMapDataset`` / ``AISIterDataset`` with the same DataLoader settings;
* a diagnostic row: our map-style dataset with batch 256 (see ``cells``).

Wall-clock rates swing with other load on a shared machine, so two load-insensitive figures are
printed too: the share of one CPU that the cluster process used during the cell (read from
``/proc``, Linux only; near 100% means the single-threaded cluster was the limit), and the CPU
time per object of this process plus its DataLoader workers (what the client costs).

Run: ``.venv/bin/python benchmarks/dataloader_throughput.py [--objects 4000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from _common import OBJ_PREFIX, cpu_seconds, put_objects, serve

from aisloader.bench import baselines, ours
from aisloader.bench.meter import Meter

BUCKET = "bench-dl"
SIZE = 10 << 10
BATCH = 64


def client_cpu_seconds() -> float:
    """CPU seconds of this process and its reaped children (the DataLoader workers)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Cell:
    """One measured configuration: its best rate, the cluster's CPU share and the client's CPU
    time per object (this process + its DataLoader workers) in that round."""

    label: str
    run: Callable[[], Meter]
    rates: list[float] = field(default_factory=list)
    cluster_cpu: list[float] = field(default_factory=list)
    client_us: list[float] = field(default_factory=list)

    def measure(self, cluster_pid: int, expected: int) -> None:
        cpu0, mine0, wall0 = cpu_seconds(cluster_pid), client_cpu_seconds(), time.perf_counter()
        meter = self.run()
        cpu, wall = cpu_seconds(cluster_pid) - cpu0, time.perf_counter() - wall0
        if meter.objects != expected:
            raise SystemExit(f"{self.label}: read {meter.objects} objects, expected {expected}")
        self.rates.append(meter.objects / max(1e-9, (meter.last or 0) - meter.started))
        self.cluster_cpu.append(cpu / wall)
        self.client_us.append(1e6 * (client_cpu_seconds() - mine0) / meter.objects)

    @property
    def best(self) -> float:
        return max(self.rates)

    @property
    def cpu_at_best(self) -> float:
        return self.cluster_cpu[self.rates.index(self.best)]

    @property
    def client_us_at_best(self) -> float:
        return self.client_us[self.rates.index(self.best)]


def cells(endpoint: str, names: list[str], window: int, workers: list[int]) -> list[Cell]:
    """Every configuration, ceiling and pure async path first."""
    out = [
        Cell(
            f"plain aiohttp, direct to the target ({window} in flight)",
            lambda: baselines.aiohttp_core(endpoint, BUCKET, names, window, direct=True),
        ),
        Cell(
            f"plain aiohttp, through the proxy ({window} in flight)",
            lambda: baselines.aiohttp_core(endpoint, BUCKET, names, window),
        ),
        Cell(
            f"aisloader get_many, no DataLoader (window {window})",
            lambda: ours.core(endpoint, BUCKET, OBJ_PREFIX, window)[0],
        ),
    ]
    for mode in ("map", "iter"):
        for w in workers:
            out.append(Cell(f"aisloader {mode}, {w} workers", _ours(endpoint, mode, w, window)))
            out.append(Cell(f"plugin {mode}, {w} workers", _plugin(endpoint, mode, w)))
    # Diagnostic: map-style waits for each whole batch; a batch larger than the window keeps
    # the window full inside the batch (shows what the per-batch barrier costs at batch 64).
    big = _ours(endpoint, "map", 0, window, batch=4 * BATCH)
    out.append(Cell(f"aisloader map, 0 workers, batch {4 * BATCH}", big))
    return out


def _ours(
    endpoint: str, mode: str, workers: int, window: int, batch: int = BATCH
) -> Callable[[], Meter]:
    return lambda: ours.loader(
        endpoint, BUCKET, mode, OBJ_PREFIX, workers, batch, "fork", window, max_batch_size=BATCH
    )


def _plugin(endpoint: str, mode: str, workers: int) -> Callable[[], Meter]:
    return lambda: baselines.plugin_loader(
        endpoint, BUCKET, mode, OBJ_PREFIX, workers, BATCH, "fork"
    )


def report(table: list[Cell], args: argparse.Namespace) -> None:
    by_label = {c.label: c for c in table}
    ceiling, pure = table[0].best, table[2].best
    print(
        f"{args.objects} objects of 10 KiB, batch {BATCH}, window {args.window}, fork workers, "
        f"best of {args.repeat}\n"
    )
    print(
        "| configuration | objects/s | vs plugin | % of aiohttp | % of get_many | cluster CPU "
        "| client CPU µs/object |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for cell in table:
        plugin = by_label.get(cell.label.replace("aisloader", "plugin"))
        ratio = f"{cell.best / plugin.best:.1f}×" if plugin and plugin is not cell else ""
        print(
            f"| {cell.label} | {cell.best:,.0f} | {ratio} | {100 * cell.best / ceiling:.0f}% "
            f"| {100 * cell.best / pure:.0f}% | {100 * cell.cpu_at_best:.0f}% "
            f"| {cell.client_us_at_best:.0f} |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=4000, help="number of 10 KiB objects")
    p.add_argument("--window", type=int, default=64, help="GETs in flight (ours and aiohttp)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    with serve("aisloader-bench-dl-") as (pid, endpoint):
        names = put_objects(endpoint, BUCKET, args.objects, SIZE)
        table = cells(endpoint, names, args.window, args.workers)
        for _ in range(args.repeat):  # interleaved rounds: drift hits every cell alike
            for cell in table:
                cell.measure(pid, args.objects)
        report(table, args)


if __name__ == "__main__":
    main()
