"""Helpers of the differential tests: the two implementations, module paths, sample shapes.

Every scenario runs once with ``aistore.pytorch`` (the official plugin, the oracle) and once
with ``aisloader.torch`` (the drop-in) against the same embedded cluster, with SDK sources.
Importable by DataLoader workers of every start method (no torch import at module level).
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest
from _shared import blob, tar_of

from aisloader.server import Fault, LocalCluster

PLUGIN = "aistore.pytorch"
OURS = "aisloader.torch"
IMPLS = (PLUGIN, OURS)
IDS = ("plugin", "ours")
MOSS = "/v1/ml/moss"
"""Where get-batch requests go."""

MODULES = (
    "base_iter_dataset",
    "base_map_dataset",
    "batch_iter_dataset",
    "dynamic_sampler",
    "iter_dataset",
    "map_dataset",
    "multishard_dataset",
    "parallel_map_dataset",
    "shard_reader",
    "utils",
)
"""The plugin's modules (``aistore.pytorch.<mod>``); aisloader has each under the same name."""


def mod(impl: ModuleType, name: str) -> ModuleType:
    """``impl.<name>`` imported by its module path (``aistore.pytorch.map_dataset``, ...)."""
    return importlib.import_module(f"{impl.__name__}.{name}")


def is_ours(impl: ModuleType) -> bool:
    """The implementation under test is aisloader's."""
    return impl.__name__ == OURS


def put(cluster: LocalCluster, bucket: str, names: Iterable[str]) -> dict[str, bytes]:
    """Put one object per name (unique bytes, sizes across tar block bounds); name → bytes,
    in name order."""
    out = {name: blob(i) for i, name in enumerate(sorted(names))}
    for name, data in out.items():
        cluster.put_object(bucket, name, data)
    return out


def put_shard(cluster: LocalCluster, bucket: str, name: str, members: Mapping[str, bytes]) -> None:
    """Put a tar shard holding ``members`` in order."""
    cluster.put_object(bucket, name, tar_of(members))


def as_bytes(data: Any) -> bytes:
    """A sample's payload as bytes: the plugin's parallel reads give a shared-memory
    ``ParallelBuffer``, which is copied out and closed (as its docs ask)."""
    if isinstance(data, bytes):
        return data
    with data:
        return bytes(data.tobytes())


def md5_hex(data: bytes) -> bytes:
    """What the cluster's ``md5`` ETL answers."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest().encode()


def filled(sample: Mapping[str, bytes]) -> dict[str, bytes]:
    """A shard sample's members without the ``b""`` padding."""
    return {ext: data for ext, data in sample.items() if data}


def iterate(dataset: Any) -> list[Any]:
    """One pass in this process. Not ``list(dataset)``: ``list`` calls ``__len__``, which the
    plugin's iterable datasets implement by listing again (and its shard reader's raises)."""
    return [sample for sample in dataset]


@contextmanager
def deleted_while_batched(
    cluster: LocalCluster, client: Any, bucket: str, name: str
) -> Iterator[None]:
    """Hold each get-batch request 0.5 s on the proxy and delete object ``name`` (with the SDK
    ``client``) while the first one is held: it was listed, so it is in the request, and the
    batch then misses it. The hold is a fault rule; nothing here depends on timing but it."""
    cluster.set_faults([Fault("latency", every=1, delay=0.5, hop="proxy", path_prefix=MOSS)])
    start = cluster.stats().get("faults.latency", 0)
    done, deleted = threading.Event(), threading.Event()

    def delete() -> None:
        while cluster.stats().get("faults.latency", 0) == start:
            if done.wait(0.002):
                return
        client.bucket(bucket).object(name).delete()
        deleted.set()

    deleter = threading.Thread(target=delete, name="compat-deleter", daemon=True)
    deleter.start()
    try:
        yield
    finally:
        done.set()
        deleter.join()
        cluster.clear_faults()
    assert deleted.is_set(), "no get-batch request was held: the object was never deleted"


def impl_params() -> list[Any]:
    """Parameters for an indirect ``impl``: the plugin and aisloader."""
    return [pytest.param(PLUGIN, id="plugin"), pytest.param(OURS, id="ours")]
