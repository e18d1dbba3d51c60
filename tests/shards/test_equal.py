"""equal= on shard readers: shards hold different numbers of samples, yet every rank takes the
same number of samples and batches (a quota per DataLoader worker); repeats are marked, the
first reads are each sample once (pad) or at most once (drop); __len__ agrees; resumable."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest
from _shared import FAST, data_loader, keep
from torchdata.stateful_dataloader import StatefulDataLoader

from aisloader import is_padding
from aisloader.errors import ConfigError
from aisloader.server import LocalCluster
from aisloader.torch import AISShardReader

from .util import regular_shard

SIZES = (3, 7, 4, 9, 2, 6, 5)  # samples per shard: shares differ by rank and by worker


def _put(cluster: LocalCluster, bucket: str) -> set[str]:
    keys = set()
    for s, n in enumerate(SIZES):
        cluster.put_object(bucket, f"eq/{s}.tar", regular_shard(s, n))
        keys |= {f"k{s:03d}-{k:04d}" for k in range(n)}
    return keys


def _reader(cluster: LocalCluster, bucket: str, rank: int, **kw: Any) -> AISShardReader:
    return AISShardReader(
        f"ais://{bucket}/eq/",
        endpoint=cluster.endpoint,
        config=FAST,
        shuffle=True,
        seed=2,
        rank=rank,
        world_size=2,
        **kw,
    )


@pytest.mark.parametrize(
    ("equal", "workers", "method"),
    [("pad", 0, None), ("pad", 2, "fork"), ("drop", 2, "forkserver"), ("drop", 0, None)],
)
def test_every_rank_takes_the_same_samples_and_batches(
    cluster: LocalCluster, bucket: str, equal: str, workers: int, method: str | None
) -> None:
    keys = _put(cluster, bucket)
    counts: list[int] = []
    batches: list[int] = []
    first_reads: Counter[str] = Counter()
    repeats = 0
    for rank in range(2):
        reader = _reader(cluster, bucket, rank, equal=equal, workers=workers)
        got = list(data_loader(reader, workers, method, batch_size=4))
        samples = [s for b in got for s in b]
        assert len(reader) == len(samples)
        counts.append(len(samples))
        batches.append(len(got))
        first_reads.update(name for name, _ in samples if not is_padding(name))
        repeats += sum(1 for name, _ in samples if is_padding(name))
    assert counts[0] == counts[1]
    assert batches[0] == batches[1]
    assert max(first_reads.values()) == 1  # a sample read for the first time, once
    if equal == "pad":
        assert set(first_reads) == keys  # nothing left out
        assert repeats == sum(counts) - len(keys)
    else:
        assert repeats == 0
        assert len(first_reads) == sum(counts) < len(keys)


def test_a_resume_inside_the_padding_continues_it(cluster: LocalCluster, bucket: str) -> None:
    _put(cluster, bucket)

    def loader(rank: int) -> StatefulDataLoader:
        # deterministic: the interleave of shards in flight is fixed, so two runs have one order
        reader = _reader(
            cluster, bucket, rank, equal="pad", sample_format="dict", deterministic=True
        )
        return StatefulDataLoader(reader, batch_size=2, collate_fn=keep)

    def ids(batches: Any) -> list[tuple[str, bool]]:
        return [(s["__key__"], is_padding(s)) for b in batches for s in b]

    for rank in range(2):
        whole = ids(loader(rank))
        padded = sum(p for _, p in whole)
        if not padded:
            continue  # the rank with the larger share: nothing to pad
        cut = (len(whole) - 1) // 2  # batches; the last one holds a repeat
        first = loader(rank)
        taken = ids(itertools.islice(iter(first), cut))
        second = loader(rank)
        second.load_state_dict(first.state_dict())
        assert taken + ids(second) == whole
        return
    raise AssertionError("no rank padded: change SIZES")


def test_a_worker_count_other_than_declared_is_refused(cluster: LocalCluster, bucket: str) -> None:
    _put(cluster, bucket)
    reader = _reader(cluster, bucket, 0, equal="pad", workers=2)
    with pytest.raises(ConfigError, match="workers="):
        list(reader)
