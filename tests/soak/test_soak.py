"""Soak (issue 13): each dataset, in process and with 2 DataLoader workers, reads every sample
exactly once and byte-exact, epoch after epoch, under a fault mix on the real embedded cluster
(see :func:`aisloader.server.faults.fault_mix`), and the faults really fired.

Short form by default (CI): 2 epochs, 240 objects / 40 shards, workers started by fork.
``AISLOADER_SOAK=full``: 5 epochs, 1000 objects / 100 shards; workers started by fork and by
forkserver (new workers each epoch) and by spawn (persistent workers: one start, 5 epochs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _shared import FAST, data_loader

from aisloader import Client
from aisloader.server import LocalCluster
from aisloader.server.faults import fault_mix
from aisloader.torch import AISBatchIterDataset, AISIterDataset, AISMapDataset, AISShardReader

from .util import (
    EPOCHS,
    FAULT_KINDS,
    METHODS,
    TIMEOUT,
    SoakData,
    assert_exactly_once,
    write_data,
)

pytestmark = [
    pytest.mark.soak,
    pytest.mark.timeout(TIMEOUT),
    pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning"),
]

CONFIG = FAST.replace(retry_attempts=20)
"""Short backoffs (a storm stays fast) and more attempts than a 23% per-attempt failure rate
could use up (0.23**20 ≈ 2e-13 per read)."""

CASES = [(0, None, False), *((2, m, m == "spawn") for m in METHODS)]
"""(workers, start method, persistent workers): spawn pays for its start (torch imported in
each worker) once, not once per epoch."""
BATCH = 16


@pytest.fixture(scope="module")
def data(cluster: LocalCluster) -> SoakData:
    """The soak's objects and shards, written once for the module."""
    return write_data(cluster, "soak")


@pytest.fixture(autouse=True)
def _no_faults(cluster: LocalCluster) -> Iterator[None]:
    yield
    cluster.clear_faults()


def _map(endpoint: str, data: SoakData) -> Any:
    return AISMapDataset(f"ais://{data.bucket}/o/", endpoint=endpoint, config=CONFIG)


def _iter(endpoint: str, data: SoakData) -> Any:
    url = f"ais://{data.bucket}/o/"
    return AISIterDataset(url, endpoint=endpoint, config=CONFIG, shuffle=True, seed=13)


def _shards(endpoint: str, data: SoakData) -> Any:
    url = f"ais://{data.bucket}/shards/"
    return AISShardReader(url, endpoint=endpoint, config=CONFIG, shuffle=True, seed=13)


def _batch(endpoint: str, data: SoakData) -> Any:
    url = f"ais://{data.bucket}/o/"
    return AISBatchIterDataset(
        url, endpoint=endpoint, config=CONFIG, max_batch_size=5, shuffle=True, seed=13
    )


DATASETS: dict[str, Callable[[str, SoakData], Any]] = {
    "map": _map,
    "iter": _iter,
    "shards": _shards,
    "get-batch": _batch,
}


def _epochs(
    dataset: Any, workers: int, method: str | None, persistent: bool
) -> Iterator[list[Any]]:
    """The samples of each epoch, read through one DataLoader (batches flattened)."""
    shuffle = isinstance(dataset, AISMapDataset)
    loader = data_loader(
        dataset, workers, method, batch_size=BATCH, shuffle=shuffle, persistent_workers=persistent
    )
    for epoch in range(EPOCHS):
        if hasattr(dataset, "set_epoch"):  # persistent workers advance their epoch themselves
            dataset.set_epoch(epoch)
        yield [sample for batch in loader for sample in batch]


@pytest.mark.parametrize(("workers", "method", "persistent"), CASES)
@pytest.mark.parametrize("kind", list(DATASETS))
def test_every_sample_once_and_exact_under_faults(
    cluster: LocalCluster,
    data: SoakData,
    kind: str,
    workers: int,
    method: str | None,
    persistent: bool,
) -> None:
    expected: dict[str, Any] = data.samples if kind == "shards" else data.objects
    before = cluster.stats()
    cluster.set_faults(fault_mix(), seed=13)
    with Client(cluster.endpoint, config=CONFIG) as probe:  # this process's shared client
        in_process = workers == 0  # (read only then: no loop thread started before a fork)
        start = probe.stats.retries if in_process else 0
        dataset = DATASETS[kind](cluster.endpoint, data)  # map-style lists here, under faults
        for samples in _epochs(dataset, workers, method, persistent):
            assert_exactly_once(samples, expected)
        retries = probe.stats.retries - start if in_process else 0
    after = cluster.stats()
    injected = {k: after[f"faults.{k}"] - before[f"faults.{k}"] for k in FAULT_KINDS}
    assert all(injected.values()), injected  # the faults fired: the pass was not vacuous
    assert retries > 0 or not in_process  # the reads ran in this process: its client retried
