"""Shard builders and oracles shared by the shard tests (tars come from ``tests/_shared.py``)."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import webdataset as wds
from _shared import tar_of

from aisloader.server import LocalCluster

Sample = dict[str, Any]
EXTS = ("jpg", "cls", "json")


def data_of(shard: int, key: int, ext: str) -> bytes:
    """The bytes of one member: small and unique (names its shard, key and extension)."""
    return f"{shard}/{key:04d}.{ext}".encode()


def regular_shard(shard: int, samples: int, exts: Sequence[str] = EXTS) -> bytes:
    """Shard ``shard`` with ``samples`` samples of ``exts`` members each."""
    return tar_of(
        (f"k{shard:03d}-{key:04d}.{ext}", data_of(shard, key, ext))
        for key in range(samples)
        for ext in exts
    )


def put_regular(
    cluster: LocalCluster,
    bucket: str,
    shards: int,
    samples: int,
    *,
    prefix: str = "train/",
    exts: Sequence[str] = EXTS,
) -> set[tuple[str, str]]:
    """Store ``shards`` regular shards; return the ``(url, key)`` of every sample."""
    out = set()
    for s in range(shards):
        name = f"{prefix}shard-{s:03d}.tar"
        cluster.put_object(bucket, name, regular_shard(s, samples, exts))
        out |= {(f"ais://{bucket}/{name}", f"k{s:03d}-{k:04d}") for k in range(samples)}
    return out


def ids(samples: Iterable[Sample]) -> list[tuple[str, str]]:
    """``(url, key)`` of each sample, in order."""
    return [(s["__url__"], s["__key__"]) for s in samples]


def gz(blob: bytes) -> bytes:
    return gzip.compress(blob, mtime=0)


def webdataset_samples(blob: bytes, url: str, tmp: Path) -> list[Sample]:
    """What ``webdataset.WebDataset`` yields for a shard with these bytes (``__url__`` = url)."""
    path = tmp / url.rsplit("/", 1)[-1]
    path.write_bytes(blob)
    out = []
    for sample in wds.WebDataset(str(path), shardshuffle=False, empty_check=False):
        sample = {k: v for k, v in sample.items() if k != "__local_path__"}
        sample["__url__"] = url
        out.append(sample)
    path.unlink()
    return out
