"""The soak's form (short by default, long under ``AISLOADER_SOAK=full``), its fault mix and
its data: plain objects and WebDataset tar shards, with the bytes every sample must come back
as."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from _shared import blob, tar_of

from aisloader.server import LocalCluster

FULL = os.environ.get("AISLOADER_SOAK") == "full"
EPOCHS = 5 if FULL else 2
OBJECTS = 1000 if FULL else 240
SHARDS, PER_SHARD = (100, 10) if FULL else (40, 6)
METHODS = ("fork", "forkserver", "spawn") if FULL else ("fork",)
TIMEOUT = 300 if FULL else 60
"""A hang guard per case, far above its usual duration (seconds) on a loaded 2-core box."""

BIG_EVERY = 25
"""Every 25th object and shard member is 64 KiB (the rest 0.6-1.1 KiB), so cuts also land in
larger bodies."""


FAULT_KINDS = ("reset", "truncate", "status", "latency")


@dataclass(frozen=True)
class SoakData:
    """What was written: ``objects`` (name → bytes under ``o/``) and the shards' ``samples``
    (key → {ext: bytes} under ``shards/``)."""

    bucket: str
    objects: dict[str, bytes]
    samples: dict[str, dict[str, bytes]]


def write_data(cluster: LocalCluster, bucket: str) -> SoakData:
    """Create ``bucket`` with ``OBJECTS`` objects and ``SHARDS`` shards of ``PER_SHARD``
    samples (a ``.bin`` and a ``.cls`` each)."""
    cluster.create_bucket(bucket)
    objects = {f"o/{i:05d}": _data(i) for i in range(OBJECTS)}
    for name, data in objects.items():
        cluster.put_object(bucket, name, data)
    samples: dict[str, dict[str, bytes]] = {}
    for s in range(SHARDS):
        keys = [f"s{s:03d}-{j:03d}" for j in range(PER_SHARD)]
        for n, key in enumerate(keys):
            i = s * PER_SHARD + n
            samples[key] = {"bin": _data(i), "cls": str(i % 10).encode()}
        members = [(f"{k}.{ext}", samples[k][ext]) for k in keys for ext in ("bin", "cls")]
        cluster.put_object(bucket, f"shards/shard-{s:03d}.tar", tar_of(members))
    return SoakData(bucket, objects, samples)


def _data(i: int) -> bytes:
    return blob(i, 64 << 10 if i % BIG_EVERY == 0 else 600)


def assert_exactly_once(samples: Iterable[tuple[str, Any]], expected: Mapping[str, Any]) -> None:
    """Every expected key exactly once, each with exactly its expected value."""
    samples = list(samples)
    counts = Counter(key for key, _ in samples)
    dupes = sorted(k for k, c in counts.items() if c > 1)
    assert not dupes, f"{len(dupes)} samples read more than once, e.g. {dupes[:5]}"
    missing = sorted(set(expected) - set(counts))
    assert not missing, f"{len(missing)} samples never read, e.g. {missing[:5]}"
    extra = sorted(set(counts) - set(expected))
    assert not extra, f"{len(extra)} samples that were never written, e.g. {extra[:5]}"
    wrong = [key for key, value in samples if value != expected[key]]
    assert not wrong, f"{len(wrong)} samples with wrong bytes, e.g. {wrong[:5]}"
