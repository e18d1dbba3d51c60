"""What the issue-14 counters cost: throughput and client CPU per object with stats on and off,
alternating in one run, plus the recording cost per object in isolation (no I/O).

    python benchmarks/stats_cost.py [--objects 3000] [--size 1024] [--rounds 5]

Small objects (1 KiB by default) are the worst case: the per-object work of the client is
smallest there, so a fixed per-object cost weighs most. Three readers over the same bucket, each
measured with stats on and off in alternating rounds: ``AsyncClient.get_many`` (the core alone),
``AISMapDataset`` through a DataLoader (batch 64, no workers) and ``AISIterDataset`` (batch 64,
no workers). "Off" puts back what the code did before issue 14: no in-flight gauges, no object
count, no latency histogram, no retry causes, no dataset row (``_off`` below). The cluster runs
in its own process; rates swing with the machine's other load, so the client's CPU time per
object (this process, from ``getrusage``) is printed as well: it is what the counters would add.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import OBJ_PREFIX, put_objects, serve
from torch.utils.data import DataLoader

import aisloader.torch._base as torch_base
from aisloader.core.client import AsyncClient
from aisloader.core.http.retry import Attempts, Stats
from aisloader.core.stats import Tally, counted
from aisloader.torch import AISIterDataset, AISMapDataset
from aisloader.torch._stats import DatasetStats, Recorder, _NoRow

BUCKET = "bench-stats"
_ON = {
    (Attempts, "track"): Attempts.track,
    (Attempts, "received"): Attempts.received,
    (Attempts, "finished"): Attempts.finished,
    (Stats, "retried"): Stats.retried,
    (DatasetStats, "recorder"): DatasetStats.recorder,
    (torch_base, "counted"): counted,
}


def _received(self: Attempts, n: int) -> None:
    self._stats.bytes_received += n  # what the reader did before


def _retried(self: Stats, exc: BaseException) -> None:
    self.retries += 1


def _no_row(self: DatasetStats, stats: Callable[[], Stats]) -> Recorder:
    return _NoRow()


_OFF = {
    (Attempts, "track"): lambda self: None,
    (Attempts, "received"): _received,
    (Attempts, "finished"): lambda self, ok: None,
    (Stats, "retried"): _retried,
    (DatasetStats, "recorder"): _no_row,
    (torch_base, "counted"): lambda source, tally: source,
}


def switch(on: bool) -> None:
    """Stats on (the code as it is) or off (as before issue 14)."""
    for (owner, name), value in (_ON if on else _OFF).items():
        setattr(owner, name, value)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def core(endpoint: str, names: list[str]) -> int:
    async def go() -> int:
        async with AsyncClient(endpoint) as client:
            refs = [(BUCKET, n) for n in names]
            return sum([1 async for _ in client.get_many(refs)])

    return asyncio.run(go())


def map_loader(endpoint: str, names: list[str]) -> int:
    dataset = AISMapDataset(f"ais://{BUCKET}/{OBJ_PREFIX}", endpoint=endpoint)
    loader = DataLoader(dataset, batch_size=64, collate_fn=lambda b: b)
    return sum(len(b) for b in loader)


def iter_loader(endpoint: str, names: list[str]) -> int:
    dataset = AISIterDataset(f"ais://{BUCKET}/{OBJ_PREFIX}", endpoint=endpoint)
    loader = DataLoader(dataset, batch_size=64, collate_fn=lambda b: b)
    return sum(len(b) for b in loader)


READERS: dict[str, Callable[[str, list[str]], int]] = {
    "core get_many": core,
    "map, DataLoader": map_loader,
    "iter, DataLoader": iter_loader,
}


def measure(run: Callable[[], int], expected: int) -> tuple[float, float]:
    """(objects/s, client CPU µs per object) of one run."""
    c0, t0 = cpu(), time.perf_counter()
    got = run()
    wall, used = time.perf_counter() - t0, cpu() - c0
    assert got == expected, (got, expected)
    return got / wall, used / got * 1e6


def recording_ns(count: int = 200_000) -> dict[str, float]:
    """Per object, no I/O: the reader's hooks (track, 1 chunk received, finished with a latency
    record) and the dataset's publish, once per list of 16 (iterable) and per batch of 64
    (map); best of 5."""
    stats, tally = Stats(), Tally()
    rec = DatasetStats().recorder(lambda: stats)
    rec.begin(tally)

    def hooks() -> None:
        for _ in range(count):
            a = Attempts.__new__(Attempts)
            a._stats, a._start, a._held = stats, 0.0, -1
            a.track()
            a.received(1024)
            a.finished(True)

    def bare() -> None:
        for _ in range(count):
            a = Attempts.__new__(Attempts)
            a._stats, a._start, a._held = stats, 0.0, -1
            stats.bytes_received += 1024

    def publish() -> None:
        for _ in range(count):
            rec.publish()

    def best(fn: Callable[[], None]) -> float:
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t0)
        return min(runs) / count * 1e9

    hook = best(hooks) - best(bare)
    pub = best(publish)
    return {"hooks": hook, "publish": pub, "iter": hook + pub / 16, "map": hook + pub / 64}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=3000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict[tuple[str, bool], list[tuple[float, float]]] = {}
    with serve("aisloader-stats-cost-") as (_, endpoint):
        names = put_objects(endpoint, BUCKET, args.objects, args.size)
        for label, reader in READERS.items():
            reader(endpoint, names)  # warm: page cache, connections
            for r in range(args.rounds):
                for on in (r % 2 == 0, r % 2 != 0):  # alternate which goes first
                    switch(on)
                    run = _bind(reader, endpoint, names)
                    results.setdefault((label, on), []).append(measure(run, args.objects))
        switch(True)
    print(f"{args.objects} objects of {args.size} B, {args.rounds} alternating rounds each")
    print(
        "reader            | on: obj/s  (CPU µs/obj) | off: obj/s (CPU µs/obj) | on/off rate, CPU"
    )
    for label in READERS:
        on, off = results[(label, True)], results[(label, False)]
        ron, con = statistics.median(r for r, _ in on), statistics.median(c for _, c in on)
        roff, coff = statistics.median(r for r, _ in off), statistics.median(c for _, c in off)
        print(
            f"{label:17} | {ron:10,.0f} ({con:7.1f})   | {roff:10,.0f} ({coff:7.1f})  "
            f"| {ron / roff:.3f}, {con / coff:.3f}"
        )
    ns = recording_ns()
    print(
        f"recording, no I/O: reader hooks {ns['hooks']:.0f} ns/object, dataset publish "
        f"{ns['publish']:.0f} ns; per object: iter {ns['iter']:.0f} ns, map {ns['map']:.0f} ns"
    )


def _bind(reader: Callable[[str, list[str]], int], endpoint: str, names: list[str]) -> Any:
    return lambda: reader(endpoint, names)


if __name__ == "__main__":
    main()
