"""AISShardReader under a DataLoader: exactly once across ranks × workers, every start method;
early exit from the sync iterator cancels the producers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _shared import FAST, data_loader

from aisloader.bridge import runtime
from aisloader.server import LocalCluster
from aisloader.torch import AISShardReader

from .util import ids, put_regular


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork"), (2, "spawn")])
def test_ranks_by_workers_read_each_sample_once(
    cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    everything = put_regular(cluster, bucket, 8, 5)
    url = f"ais://{bucket}/train/"
    seen: list[tuple[str, str]] = []
    by_rank = []
    for rank in range(2):
        reader = AISShardReader(
            url,
            endpoint=cluster.endpoint,
            config=FAST,
            sample_format="dict",
            shuffle=True,
            seed=11,
            shuffle_buffer=8,
            rank=rank,
            world_size=2,
        )
        reader.set_epoch(3)
        loader = data_loader(reader, workers, method, batch_size=4)
        got = ids(s for batch in loader for s in batch)
        by_rank.append({u for u, _ in got})
        seen += got
    assert sorted(seen) == sorted(everything)
    assert not by_rank[0] & by_rank[1]  # ranks read disjoint shards
    assert len(by_rank[0]) == len(by_rank[1]) == 4


def _loop_tasks() -> set[asyncio.Task[Any]]:
    async def tasks() -> set[asyncio.Task[Any]]:
        return asyncio.all_tasks() - {asyncio.current_task()}

    return runtime.call(tasks)


def _left_after(baseline: set[asyncio.Task[Any]]) -> list[str]:
    """Tasks still running once every task not in ``baseline`` had 10 s to end."""

    async def wait() -> list[str]:
        others = asyncio.all_tasks() - baseline - {asyncio.current_task()}
        if not others:
            return []
        _, pending = await asyncio.wait(others, timeout=10)
        return [repr(t) for t in pending]

    return runtime.call(wait)


def test_breaking_out_cancels_the_producer(cluster: LocalCluster, bucket: str) -> None:
    everything = put_regular(cluster, bucket, 6, 40)
    reader = AISShardReader(f"ais://{bucket}/train/", endpoint=cluster.endpoint, config=FAST)
    assert len(list(reader)) == len(everything)
    baseline = _loop_tasks()
    for _ in range(3):
        samples = iter(reader)
        for _ in range(5):
            next(samples)
        samples.close()  # type: ignore[attr-defined]
    # runtime.iterate's close() does not wait for the producer's cleanup (reported), so wait
    # for it here: every task the iterations started must end, none may be left behind.
    assert _left_after(baseline) == []
