"""AISShardMapDataset under a ``Lookahead`` and its ``stats()``: every batch after a
consumer's first taken from a read started before it was asked for, every member read once,
counts summed over the workers (fork, forkserver; spawn in ``tests/torch``'s Lookahead
test, which pickles the same read-ahead state)."""

from __future__ import annotations

import pytest
import torch
from _shared import FAST, load
from torch.utils.data import BatchSampler, RandomSampler

from aisloader.server import LocalCluster
from aisloader.torch import AISShardMapDataset, Lookahead

from .util import EXTS, ids, put_regular

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")


@pytest.mark.parametrize(  # spawn: the same Prefetch pickling is run by the map test's
    ("workers", "method"), [(0, None), (2, "fork"), (2, "forkserver")]
)
def test_shard_map_reads_ahead_and_counts(
    cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    everything = put_regular(cluster, bucket, 4, 5)
    dataset = AISShardMapDataset(f"ais://{bucket}/train/", endpoint=cluster.endpoint, config=FAST)
    order = RandomSampler(range(20), generator=torch.Generator().manual_seed(3))
    sampler = Lookahead(BatchSampler(order, 3, False), depth=2, num_workers=workers)
    got = load(dataset, workers, method, batch_sampler=sampler)
    assert sorted(ids(got)) == sorted(everything)
    assert len(got) == len(everything) == 20
    stats = dataset.stats()
    assert stats["prefetched"] == 7 - max(1, workers)  # 7 batches of 3
    assert (stats["items"], stats["objects"]) == (20, 20 * len(EXTS))  # no member read twice
    assert stats["processes"] == max(1, workers)
    assert dataset[0]["__key__"]  # and one more, in this process
    assert dataset.stats()["items"] == 21
