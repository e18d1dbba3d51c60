"""The whole cluster dies mid-epoch: the training loop gets a typed error within the retry
budget (never a hang), no DataLoader worker or aisloader thread outlives the loader, and a
cluster restarted on the same data and port serves the next epoch in full.

Each test has its own cluster (killing the session's would break every later test). Steps
are ordered by batches seen, never by time; the timeout only guards against a hang.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
from pathlib import Path

import pytest
from _shared import FAST, data_loader, load, put_objects
from torchds_util import assert_exactly_once

from aisloader.errors import AISLoaderError, TransportError
from aisloader.server import LocalCluster
from aisloader.torch import AISIterDataset

pytestmark = [
    pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning"),
    pytest.mark.timeout(90),
]

N = 120
BATCH = 4
KILL_AFTER = 3
"""Batches read before the cluster is stopped."""
SHORT = FAST.replace(retry_budget=2.0, window=4, bridge_queue=2)
"""A 2 s retry budget with short backoffs; small read-ahead, so the epoch is far from done
when the cluster dies."""


def _epoch_until_error(
    dataset: AISIterDataset, workers: int, cluster: LocalCluster
) -> tuple[int, BaseException | None]:
    """Batches of one epoch until the error that follows stopping ``cluster`` after
    ``KILL_AFTER`` batches; the loader is released before returning."""
    it = iter(data_loader(dataset, workers, "fork" if workers else None, batch_size=BATCH))
    seen, error = 0, None
    try:
        for _batch in it:
            seen += 1
            if seen == KILL_AFTER:
                cluster.stop()
    except Exception as e:
        error = e.with_traceback(None)
    finally:
        del it
    return seen, error


def _new_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=5)  # torch's queue feeder threads end just after its iterator
    return set(threading.enumerate()) - before


@pytest.mark.parametrize("workers", [0, 2])
def test_cluster_death_mid_epoch_is_a_typed_error_then_a_restart_serves(
    tmp_path: Path, workers: int
) -> None:
    cluster = LocalCluster(tmp_path, targets=2).start()
    try:
        expected = put_objects(cluster, "death", N)
        dataset = AISIterDataset("ais://death", endpoint=cluster.endpoint, config=SHORT)
        # a full epoch first: lazy per-process threads (the loop, its resolver) start here
        assert_exactly_once(load(dataset, workers, "fork" if workers else None), expected)
        threads_before = set(threading.enumerate())
        port = int(cluster.endpoint.rpartition(":")[2])

        seen, error = _epoch_until_error(dataset, workers, cluster)
    finally:
        cluster.stop()

    assert KILL_AFTER <= seen < N // BATCH, "the epoch ended without an error"
    assert isinstance(error, AISLoaderError), repr(error)
    assert isinstance(error, TransportError), repr(error)
    assert "nothing is listening" in str(error), str(error)  # refused, not timed out
    gc.collect()
    assert multiprocessing.active_children() == []
    assert not _new_threads(threads_before), "a thread outlived the loader"

    with LocalCluster(tmp_path, targets=2, port=port) as again:  # same data, same endpoint
        assert again.endpoint == cluster.endpoint
        assert_exactly_once(load(dataset, workers, "fork" if workers else None), expected)
    assert multiprocessing.active_children() == []
