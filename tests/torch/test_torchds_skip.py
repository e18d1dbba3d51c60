"""on_error="skip": an object that cannot be read is recorded and read past (within a budget,
reported after the pass); under equal= counts a skip is replaced by a marked repeat, so every
rank still takes the same number of samples. The default raises the typed error."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest
from _shared import FAST, data_loader, put_objects
from torchds_util import load_error

from aisloader import (
    AsyncClient,
    Client,
    ObjectNotFound,
    ObjectStream,
    SkipBudgetExceeded,
    is_padding,
)
from aisloader.core.streams.order import Part
from aisloader.server import LocalCluster
from aisloader.torch import AISIterDataset

GONE = ("o/00003", "o/00011")


def _listed_then_deleted(cluster: LocalCluster, bucket: str, **kw: Any) -> AISIterDataset:
    """A dataset whose listing still names two objects that were deleted after it."""
    dataset = AISIterDataset(f"ais://{bucket}/o/", endpoint=cluster.endpoint, config=FAST, **kw)
    dataset.manifest()
    with Client(cluster.endpoint) as client:
        for name in GONE:
            client.delete(f"ais://{bucket}/{name}")
    return dataset


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork"), (2, "spawn")])
def test_skip_reads_past_missing_objects_and_reports_them(
    cluster: LocalCluster,
    bucket: str,
    workers: int,
    method: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    names = put_objects(cluster, bucket, 24, size=8)
    dataset = _listed_then_deleted(cluster, bucket, on_error="skip", skip_budget=2)
    with caplog.at_level(logging.WARNING, logger="aisloader.skips"):
        got = [n for b in data_loader(dataset, workers, method, batch_size=5) for n, _ in b]
    assert sorted(got) == sorted(set(names) - set(GONE))  # the rest, each once
    if workers == 0:
        report = dataset.skip_report()
        assert sorted(r["object"] for r in report) == [f"ais://{bucket}/{n}" for n in GONE]
        assert all("ObjectNotFound" in r["error"] and r["attempts"] >= 1 for r in report)
        assert any("skipped 2 objects" in r.getMessage() for r in caplog.records)


def test_more_skips_than_the_budget_raise_with_the_report(
    cluster: LocalCluster, bucket: str
) -> None:
    """Both deleted objects are worker 1's (odd positions): its second skip raises, and the
    error torch rebuilds in the main process from the worker's text still holds the report
    (under spawn too: ``test_torchds_skip_map.py`` and ``test_torchds_skip_multishard.py``;
    the rebuild does not depend on the start method or the dataset)."""
    put_objects(cluster, bucket, 24, size=8)
    dataset = _listed_then_deleted(cluster, bucket, on_error="skip", skip_budget=1)
    error = load_error(dataset, 2, "fork")
    assert isinstance(error, SkipBudgetExceeded)
    assert "skip_budget=1" in str(error)
    assert "in DataLoader worker process 1" in str(error)
    assert [r["object"] for r in error.report] == [f"ais://{bucket}/{n}" for n in GONE]
    assert all(r["error"].startswith("ObjectNotFound: ") for r in error.report)
    assert all(r["attempts"] >= 1 for r in error.report)


def test_the_default_raises_the_typed_error(cluster: LocalCluster, bucket: str) -> None:
    put_objects(cluster, bucket, 24, size=8)
    error = load_error(_listed_then_deleted(cluster, bucket), 0)
    assert isinstance(error, ObjectNotFound)


def test_under_equal_counts_a_skip_is_replaced(cluster: LocalCluster, bucket: str) -> None:
    """Two ranks with equal="drop": the rank that lost objects still takes as many samples
    (repeats, marked), so DDP steps stay equal; first reads are each object at most once."""
    names = put_objects(cluster, bucket, 24, size=8)
    counts, first = [], Counter[str]()
    for rank in range(2):
        dataset = _listed_then_deleted(
            cluster, bucket, on_error="skip", skip_budget=2, equal="drop", rank=rank, world_size=2
        )
        got = [n for b in data_loader(dataset, 2, "fork", batch_size=4) for n, _ in b]
        assert len(dataset) == len(got)
        counts.append(len(got))
        first.update(n for n in got if not is_padding(n))
        with Client(cluster.endpoint) as client:  # back for the next rank's listing
            for name in GONE:
                client.put(f"ais://{bucket}/{name}", b"x")
    assert counts == [12, 12]
    assert max(first.values()) == 1
    assert set(first) == set(names) - set(GONE)


async def test_an_async_stream_skips_and_refills(
    cluster: LocalCluster, bucket: str, client: AsyncClient
) -> None:
    put_objects(cluster, bucket, 10, size=8)
    stream = ObjectStream(
        f"ais://{bucket}/o/",
        client=client,
        on_error="skip",
        skip_budget=3,
        equal="pad",
        part=Part(0, 1),
        ranks=1,
    )
    await stream.manifest()
    await client.delete(f"ais://{bucket}/o/00000")  # the first: repeated after the next good
    got = [name async for name, _ in stream]
    assert len(got) == 10
    assert [n for n in got if is_padding(n)] == ["o/00001"]
    assert [r["object"] for r in stream.skips.report()] == [f"ais://{bucket}/o/00000"]
