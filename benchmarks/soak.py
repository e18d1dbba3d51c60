"""Soak under a fault mix (issue 13): each dataset × DataLoader workers, clean vs faulty epochs.

The embedded cluster runs in its own process (``python -m aisloader serve``). For every
(dataset, workers) pair, one dataset reads ``--epochs`` clean epochs and as many under the fault
mix, alternating (clean first on even epochs, faulty first on odd ones, so load drift on a
shared machine hits both arms alike); an epoch and its faulty twin read in the same order. The
mix is the one of ``tests/soak`` (installed over ``PUT /v1/_emu/faults`` with a new seed each
faulty epoch, cleared after it): every 33rd answer with a body reset, every 50th truncated, 5%
503 and 5% 429 on every request (each hop of a redirected one), 10 ms latency on 10% of
requests, on every request under ``/v1/`` (reads, listings, get-batch, the cluster map).

``map+ahead`` is ``map`` with the same shuffled batches through a ``Lookahead`` batch sampler
(each batch names the consumer's next ones, which the dataset reads in the background).

Each epoch's samples are checked: every object (or shard sample) exactly once and byte-exact.
Client retries and requests are this process's client counters with 0 workers, and with
workers each worker's own (a wrapper dataset hands them out as its last item per batch/pass);
listings made on a short-lived client are not counted. Faults injected come from the cluster.

The client uses ``ClientConfig()``'s defaults (backoff 50 ms doubling to 2 s, direct reads);
``--fast-backoff`` uses the tests' 2-20 ms backoffs, ``--via-proxy`` turns direct reads off.

Run: ``.venv/bin/python benchmarks/soak.py [--epochs 5] [--objects 2000] [--fast-backoff]
[--via-proxy] [--datasets map,map+ahead,iter,shards,get-batch] [--depth N]``
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import tarfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from _common import serve
from torch.utils.data import BatchSampler, DataLoader, Dataset, IterableDataset, RandomSampler

from aisloader import AsyncClient, Client, ClientConfig
from aisloader.core.stages.window import ordered_window
from aisloader.server.faults import fault_mix
from aisloader.torch import (
    AISBatchIterDataset,
    AISIterDataset,
    AISMapDataset,
    AISShardReader,
    Lookahead,
)

BUCKET = "soak"
BATCH = 16  # DataLoader batch
PER_SHARD = 10  # samples per shard: --objects samples in --objects / 10 shards
STATS = "__client_stats__"
RULES = ("reset", "truncate", "503", "429", "latency")


def admin(endpoint: str, method: str, body: Any = None) -> dict[str, Any]:
    """Call the emulator's ``/v1/_emu/faults`` route (loopback only)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{endpoint}/v1/_emu/faults", data=data, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        out: dict[str, Any] = json.load(resp)
        return out


# --- data -------------------------------------------------------------------------------------
def payload(i: int, size: int) -> bytes:
    """Unique bytes of object / sample ``i``: ``size`` plus up to 516 bytes."""
    head = f"soak-{i:07d}:".encode()
    n = size + i % 517
    return (head * (n // len(head) + 1))[:n]


def shard(index: int, size: int) -> tuple[bytes, dict[str, dict[str, bytes]]]:
    """One tar shard of ``PER_SHARD`` samples (``.bin``, ``.cls``) and its samples by key."""
    samples = {
        f"s{index:05d}-{j:02d}": {"bin": payload(index * PER_SHARD + j, size), "cls": b"%d" % j}
        for j in range(PER_SHARD)
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, parts in samples.items():
            for ext, data in parts.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue(), samples


async def write(endpoint: str, objects: dict[str, bytes], shards: dict[str, bytes]) -> None:
    async with AsyncClient(endpoint) as client:
        await client.create_bucket(BUCKET, exist_ok=True)

        async def put(item: tuple[str, bytes]) -> None:
            await client.put((BUCKET, item[0]), item[1])

        async for _ in ordered_window([*objects.items(), *shards.items()], put, 32, ordered=False):
            pass


# --- client counters from every process that reads --------------------------------------------
def counters(probe: Client) -> tuple[int, int, int]:
    """(pid, requests, retries) of this process's shared client for the probe's settings."""
    stats = probe.stats
    return os.getpid(), stats.requests, stats.retries


class ProbedIter(IterableDataset[Any]):
    """The dataset's samples, then this process's client counters."""

    def __init__(self, inner: Any, probe: Client) -> None:
        self.inner, self.probe = inner, probe

    def __iter__(self) -> Iterator[Any]:
        yield from self.inner
        yield STATS, counters(self.probe)


class ProbedMap(Dataset[Any]):
    """The dataset's batches, each followed by this process's client counters."""

    def __init__(self, inner: AISMapDataset, probe: Client) -> None:
        self.inner, self.probe = inner, probe

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> Any:
        return self.inner[index]

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        return [*self.inner.__getitems__(indices), (STATS, counters(self.probe))]


# --- one (dataset, workers) pair ----------------------------------------------------------------
@dataclass
class Case:
    kind: str
    workers: int
    seconds: dict[str, list[float]] = field(default_factory=lambda: {"clean": [], "faults": []})
    requests: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def median(self, arm: str) -> float:
        return statistics.median(self.seconds[arm])


def check(samples: list[Any], expected: dict[str, Any]) -> str:
    """'' when every expected key came once with its bytes, else what went wrong."""
    counts = Counter(key for key, _ in samples)
    dupes = [k for k, c in counts.items() if c > 1]
    missing, extra = set(expected) - set(counts), set(counts) - set(expected)
    wrong = [k for k, v in samples if k in expected and v != expected[k]]
    if dupes or missing or extra or wrong:
        return f"dupes {len(dupes)} missing {len(missing)} extra {len(extra)} wrong {len(wrong)}"
    return ""


def epoch(loader: DataLoader[Any], probe: Client) -> tuple[float, list[Any], int, int]:
    """One pass: (seconds, samples, client requests, client retries)."""
    _, req0, ret0 = counters(probe) if loader.num_workers == 0 else (0, 0, 0)
    last: dict[int, tuple[int, int]] = {}
    samples: list[Any] = []
    start = time.perf_counter()
    for batch in loader:
        for item in batch:
            if item[0] == STATS:
                pid, req, ret = item[1]
                last[pid] = max(last.get(pid, (0, 0)), (req, ret))
            else:
                samples.append(item)
    seconds = time.perf_counter() - start
    if loader.num_workers == 0:
        _, req, ret = counters(probe)
        return seconds, samples, req - req0, ret - ret0
    return seconds, samples, sum(r for r, _ in last.values()), sum(r for _, r in last.values())


def keep(batch: list[Any]) -> list[Any]:
    return batch


def run_case(
    case: Case,
    endpoint: str,
    cfg: ClientConfig,
    build: Callable[[], Any],
    args: Any,
    expected: dict[str, Any],
) -> None:
    """Read ``args.epochs`` clean and faulty epochs of ``build()``, into ``case``."""
    probe = Client(endpoint, config=cfg)
    dataset = build()
    is_map = isinstance(dataset, AISMapDataset)
    wrapped = ProbedMap(dataset, probe) if is_map else ProbedIter(dataset, probe)
    batching: dict[str, Any] = {"batch_size": BATCH, "shuffle": is_map}
    if case.kind == "map+ahead":  # the same shuffled batches, each announcing the next ones
        batches = BatchSampler(RandomSampler(wrapped), BATCH, drop_last=False)
        depth = {"depth": args.depth} if args.depth else {}
        ahead = Lookahead(batches, num_workers=case.workers, **depth)
        batching = {"batch_sampler": ahead}
    loader = DataLoader(
        wrapped,
        num_workers=case.workers,
        multiprocessing_context="fork" if case.workers else None,
        collate_fn=keep,
        **batching,
    )
    for e in range(args.epochs):
        for arm in ("clean", "faults") if e % 2 == 0 else ("faults", "clean"):
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(e)  # the same order in both arms
            if arm == "faults":
                rules = [f.to_json() for f in fault_mix()]
                admin(endpoint, "PUT", {"seed": args.seed + e, "faults": rules})
            try:
                seconds, samples, requests, retries = epoch(loader, probe)
            except Exception as exc:  # a failed epoch is a verdict, not the end of the run
                case.problems.append(f"epoch {e} {arm}: {type(exc).__name__}: {exc}")
                continue
            finally:
                if arm == "faults":
                    injected = admin(endpoint, "GET")["injected"]
                    admin(endpoint, "DELETE")
                    case.injected.update(dict(zip(RULES, injected, strict=True)))
            case.seconds[arm].append(seconds)
            case.requests[arm] += requests
            case.retries[arm] += retries
            if problem := check(samples, expected):
                case.problems.append(f"epoch {e} {arm}: {problem}")


# --- the run --------------------------------------------------------------------------------
def builders(endpoint: str, cfg: ClientConfig, args: Any) -> dict[str, Callable[[], Any]]:
    objs, shards = f"ais://{BUCKET}/o/", f"ais://{BUCKET}/shards/"
    common: dict[str, Any] = {"endpoint": endpoint, "config": cfg}
    seeded: dict[str, Any] = {**common, "shuffle": True, "seed": args.seed}
    return {
        "map": lambda: AISMapDataset(objs, **common),
        "map+ahead": lambda: AISMapDataset(objs, **common),
        "iter": lambda: AISIterDataset(objs, **seeded),
        "shards": lambda: AISShardReader(shards, **seeded),
        "get-batch": lambda: AISBatchIterDataset(objs, max_batch_size=args.batch, **seeded),
    }


def report(cases: list[Case], args: Any, cfg: ClientConfig) -> None:
    print(
        f"{args.objects} objects of {args.size}-{args.size + 516} B (+ {args.objects} shard "
        f"samples in {args.objects // PER_SHARD} shards), {args.epochs} clean + {args.epochs} "
        f"faulty epochs each, DataLoader batch {BATCH}, fork, get-batch {args.batch} per request;"
        f" clean s / fault s: median seconds per epoch; {settings(args, cfg)}"
    )
    head = (
        f"{'dataset':<10}{'wrk':>4}{'clean s':>9}{'fault s':>9}{'ratio':>7}"
        + "".join(f"{r:>9}" for r in RULES)
        + f"{'retries':>9}{'req clean':>11}{'req fault':>11}  verdict"
    )
    print(head)
    print("-" * len(head))
    for c in cases:
        if not (c.seconds["clean"] and c.seconds["faults"]):
            print(f"{c.kind:<10}{c.workers:>4}  no complete epoch: {'; '.join(c.problems[:3])}")
            continue
        clean, faulty = c.median("clean"), c.median("faults")
        verdict = "exactly once, byte-exact" if not c.problems else "; ".join(c.problems[:3])
        print(
            f"{c.kind:<10}{c.workers:>4}{clean:>9.3f}{faulty:>9.3f}{faulty / clean:>6.2f}x"
            + "".join(f"{c.injected[r]:>9}" for r in RULES)
            + f"{c.retries['faults']:>9}{c.requests['clean']:>11}{c.requests['faults']:>11}"
            + f"  {verdict}"
        )


def settings(args: Any, cfg: ClientConfig) -> str:
    backoff = "2 ms doubling to 20 ms (--fast-backoff)" if args.fast_backoff else "50 ms to 2 s"
    return f"ClientConfig defaults but backoff {backoff}, direct_reads={cfg.direct_reads}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size", type=int, default=10 << 10, help="object / member bytes")
    parser.add_argument("--batch", type=int, default=32, help="get-batch entries per request")
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--datasets", default="map,map+ahead,iter,shards,get-batch")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--depth", type=int, default=0, help="map+ahead: Lookahead depth (default: its own)"
    )
    parser.add_argument(
        "--fast-backoff",
        action="store_true",
        help="the tests' 2-20 ms backoffs (default: ClientConfig's, 50 ms doubling to 2 s)",
    )
    parser.add_argument(
        "--via-proxy", action="store_true", help="direct_reads=False: every GET through the proxy"
    )
    args = parser.parse_args()
    cfg = ClientConfig(direct_reads=False) if args.via_proxy else ClientConfig()
    if args.fast_backoff:
        cfg = cfg.replace(backoff_base=0.002, backoff_cap=0.02)
    objects = {f"o/{i:06d}": payload(i, args.size) for i in range(args.objects)}
    shard_objs: dict[str, bytes] = {}
    samples: dict[str, dict[str, bytes]] = {}
    for s in range(args.objects // PER_SHARD):
        shard_objs[f"shards/shard-{s:05d}.tar"], more = shard(s, args.size)
        samples.update(more)
    cases: list[Case] = []
    start = time.perf_counter()
    with serve("aisloader-soak-") as (_, endpoint):
        asyncio.run(write(endpoint, objects, shard_objs))
        build = builders(endpoint, cfg, args)
        for kind in args.datasets.split(","):
            for workers in (int(w) for w in args.workers.split(",")):
                case = Case(kind, workers)
                expected: dict[str, Any] = samples if kind == "shards" else objects
                run_case(case, endpoint, cfg, build[kind], args, expected)
                cases.append(case)
                print(f"done: {kind} {workers} workers", flush=True)
    report(cases, args, cfg)
    print(f"wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
