"""Helpers for the torch dataset tests, importable by DataLoader workers under every start method.

This directory has no ``__init__.py`` on purpose: a package named ``torch`` would shadow PyTorch.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from _shared import FAST, batches_then_error, blob, data_loader, load
from torch.utils.data import Dataset

from aisloader.server import Fault, LocalCluster
from aisloader.torch import AISBaseMapDataset, AISIterDataset

N = 60
"""Objects under ``o/`` in the main test bucket."""

COUNT_LISTS = Fault(
    "latency", every=1, delay=0.0, hop="proxy", methods=("GET",), path_prefix="/v1/buckets/"
)
"""A no-op fault on every list-objects page: ``faults.latency`` then counts list requests."""


def stamp(data: bytes) -> tuple[bytes, str, int]:
    """A transform that records where it ran: (data, thread name, pid)."""
    return data, threading.current_thread().name, os.getpid()


def load_error(dataset: Any, workers: int = 0, method: str | None = None, **kw: Any) -> Exception:
    """The exception one pass raises (see `batches_then_error`)."""
    return batches_then_error(dataset, workers, method, **kw)[1]


def assert_exactly_once(samples: Sequence[tuple[str, Any]], expected: dict[str, bytes]) -> None:
    """Every expected object once, with its bytes (``data`` may be a ``stamp`` tuple)."""
    counts = Counter(name for name, _ in samples)
    dupes = [n for n, c in counts.items() if c > 1]
    assert not dupes, f"read more than once: {dupes[:5]}"
    assert set(counts) == set(expected), f"missing {sorted(set(expected) - set(counts))[:5]}"
    for name, data in samples:
        raw = data[0] if isinstance(data, tuple) else data
        assert raw == expected[name], name


def lists_served(cluster: LocalCluster) -> int:
    """List-objects pages served so far (counted while ``COUNT_LISTS`` is installed)."""
    return cluster.stats().get("faults.latency", 0)


def count_lists(cluster: LocalCluster) -> Callable[[], int]:
    """Install ``COUNT_LISTS``; return a function giving the list requests since then."""
    cluster.set_faults([COUNT_LISTS])
    start = lists_served(cluster)
    return lambda: lists_served(cluster) - start


def uss() -> int:
    """This process's private memory (bytes): what copy-on-write growth shows up in."""
    total = 0
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1]) * 1024
    return total


class NamesOnly(AISBaseMapDataset):
    """Reads names through the real manifest and reports private-memory growth; no GET."""

    _base: int | None = None

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        if self._base is None:
            self._base = uss()
        touched = sum(len(self.manifest.ref(i).name) for i in indices)
        return [(len(indices), touched, uss() - self._base)]


class PluginStyleNames(Dataset[Any]):
    """The plugin's storage (a Python list of SDK ``Object``s) under the same access pattern."""

    def __init__(self, endpoint: str, bucket: str, names: Iterable[str]) -> None:
        from aistore.sdk import Client as SdkClient

        sdk_bucket = SdkClient(endpoint).bucket(bucket)
        self._objects = [sdk_bucket.object(name) for name in names]
        self._base: int | None = None

    def __len__(self) -> int:
        return len(self._objects)

    def __getitem__(self, index: int) -> Any:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        if self._base is None:
            self._base = uss()
        touched = sum(len(self._objects[i].name) for i in indices)
        return [(len(indices), touched, uss() - self._base)]


def dist_rank_main(
    rank: int, world: int, port: int, endpoint: str, url: str, out: str, method: str
) -> None:
    """One torch.distributed rank (gloo, 127.0.0.1): read an epoch with 2 workers, save names."""
    import multiprocessing

    import torch.distributed as dist

    multiprocessing.get_context("forkserver").set_forkserver_preload(["torch", "torchds_util"])
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        dataset = AISIterDataset(url, endpoint=endpoint, config=FAST, shuffle=True, seed=5)
        dataset.set_epoch(1)
        expected_len = len(dataset)
        samples = load(dataset, 2, method)
        record = {
            "rank": rank,
            "len": expected_len,
            "names": [name for name, _ in samples],
            "ok": all(data == blob(int(name[-5:])) for name, data in samples),
        }
        Path(out, f"rank{rank}.json").write_text(json.dumps(record))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def ddp_equal_main(rank: int, world: int, port: int, endpoint: str, url: str, out: str) -> None:
    """One DDP-like rank over uneven data (equal="pad"): an all_reduce per batch, as a
    training step's gradient sync, must never wait on a rank that has run out of batches."""
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=60),
    )
    try:
        dataset = AISIterDataset(url, endpoint=endpoint, config=FAST, shuffle=True, equal="pad")
        steps, names = 0, []
        for batch in data_loader(dataset, 2, "fork", batch_size=16):
            total = torch.tensor([len(batch)], dtype=torch.int64)
            dist.all_reduce(total)  # hangs (then times out) if the other rank has stopped
            steps += 1
            names += [name for name, _ in batch]
        record = {"rank": rank, "steps": steps, "len": len(dataset), "names": names}
        Path(out, f"rank{rank}.json").write_text(json.dumps(record))
        dist.barrier()
    finally:
        dist.destroy_process_group()
