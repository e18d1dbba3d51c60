"""Mid-epoch resume: exactly the samples not yet delivered, in the uninterrupted order on the
same layout, re-split exactly once on another (merged states); foreign states refused."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from _shared import FAST, data_loader, keep, put_objects, tar_of
from torchdata.stateful_dataloader import StatefulDataLoader
from torchds_util import assert_exactly_once

from aisloader import Client, Ledger, merge_states
from aisloader.errors import ResumeError
from aisloader.server import LocalCluster
from aisloader.torch import AISBatchIterDataset, AISIterDataset, AISMultiShardStream, LoaderProgress

URL = "ais://tds/o/"


def _iter(cluster: LocalCluster, **kw: Any) -> AISIterDataset:
    return AISIterDataset(URL, endpoint=cluster.endpoint, config=FAST, shuffle=True, seed=5, **kw)


def _loader(dataset: Any, workers: int, method: str | None) -> StatefulDataLoader:
    context = method if workers else None
    return StatefulDataLoader(
        dataset, batch_size=4, num_workers=workers, multiprocessing_context=context, collate_fn=keep
    )


@pytest.mark.parametrize(
    ("workers", "method", "cut"), [(0, None, 3), (0, None, 0), (2, "fork", 5), (2, "spawn", 4)]
)
def test_stateful_dataloader_resumes_in_the_uninterrupted_order(
    cluster: LocalCluster, objects: dict[str, bytes], workers: int, method: str | None, cut: int
) -> None:
    whole = [s for b in _loader(_iter(cluster), workers, method) for s in b]
    assert_exactly_once(whole, objects)
    first = _loader(_iter(cluster), workers, method)
    batches = iter(first)
    taken = [s for b in itertools.islice(batches, cut) for s in b]
    state = first.state_dict()
    del batches  # the job "dies" here; a new process would do the same from `state`
    second = _loader(_iter(cluster), workers, method)
    second.load_state_dict(state)
    rest = [s for b in second for s in b]
    assert [n for n, _ in taken + rest] == [n for n, _ in whole]  # nothing lost or repeated
    assert_exactly_once(taken + rest, objects)


def test_ledger_proves_cut_plus_resume_equals_the_whole_epoch(
    cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    whole = Ledger()
    for batch in _loader(_iter(cluster), 2, "fork"):
        whole.record(name for name, _ in batch)
    first, ledger = _loader(_iter(cluster), 2, "fork"), Ledger()
    for batch in itertools.islice(iter(first), 6):
        ledger.record(name for name, _ in batch)
    checkpoint = {"loader": first.state_dict(), "ledger": ledger.state_dict()}
    second, resumed = _loader(_iter(cluster), 2, "fork"), Ledger()
    second.load_state_dict(checkpoint["loader"])
    resumed.load_state_dict(checkpoint["ledger"])
    for batch in second:
        resumed.record(name for name, _ in batch)
    assert resumed.state_dict() == whole.state_dict()
    assert whole.samples == len(objects)


def _partial(dataset: AISIterDataset, count: int) -> tuple[list[Any], dict[str, Any]]:
    it = iter(dataset)
    got = list(itertools.islice(it, count))
    return got, dataset.state_dict()


@pytest.mark.parametrize(("old", "new"), [(2, 3), (3, 2), (2, 1)])
def test_elastic_resume_splits_what_is_left_exactly_once(
    cluster: LocalCluster, objects: dict[str, bytes], old: int, new: int
) -> None:
    seen, states = [], []
    for rank in range(old):
        got, state = _partial(_iter(cluster, rank=rank, world_size=old), 3 + 5 * rank)
        seen += got
        states.append(state)
    merged = merge_states(states)
    ledgers = [Ledger() for _ in range(new)]
    for rank in range(new):
        dataset = _iter(cluster, rank=rank, world_size=new)
        dataset.load_state_dict(merged)
        got = list(dataset)
        ledgers[rank].record(name for name, _ in got)
        seen += got
    assert_exactly_once(seen, objects)
    before = Ledger()
    before.record(name for name, _ in seen[: len(seen) - sum(x.samples for x in ledgers)])
    uninterrupted = Ledger()
    uninterrupted.record(objects)
    assert before.combine(*ledgers).multiset == uninterrupted.multiset


def test_a_single_part_state_on_another_layout_is_refused(
    cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    _, state = _partial(_iter(cluster, rank=0, world_size=2), 4)
    dataset = _iter(cluster, rank=0, world_size=3)
    dataset.load_state_dict(state)
    with pytest.raises(ResumeError, match=r"part 0 of 2 .* part 0 of 3 .*merge_states"):
        list(dataset)
    with pytest.raises(ResumeError, match="missing"):
        merge_states([state])


def test_a_state_of_another_dataset_is_refused(
    cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    _, state = _partial(_iter(cluster), 4)
    put_objects(cluster, "tds", 3, "other/")
    other = AISIterDataset(
        "ais://tds/other/", endpoint=cluster.endpoint, config=FAST, shuffle=True, seed=5
    )
    other.load_state_dict(state)
    with pytest.raises(ResumeError, match="listing"):
        list(other)
    reseeded = AISIterDataset(URL, endpoint=cluster.endpoint, config=FAST, shuffle=True, seed=6)
    reseeded.load_state_dict(state)
    with pytest.raises(ResumeError, match="seed"):
        list(reseeded)
    with pytest.raises(ResumeError, match="not an aisloader resume state"):
        reseeded.load_state_dict({"hello": 1})


def test_get_batch_resume_counts_skipped_missing_objects(
    cluster: LocalCluster, bucket: str
) -> None:
    objs = put_objects(cluster, bucket, 20)
    names = sorted(objs)
    url = f"ais://{bucket}/o/"

    def dataset() -> AISBatchIterDataset:
        return AISBatchIterDataset(
            url, endpoint=cluster.endpoint, config=FAST, max_batch_size=4, cont_on_err=True
        )

    first = dataset()
    first.manifest()  # listed before the object disappears
    with Client(cluster.endpoint) as client:
        client.delete(f"ais://{bucket}/{names[2]}")
    it = iter(first)
    taken = list(itertools.islice(it, 6))  # positions 0..6: one of them was missing
    state = first.state_dict()
    assert state["delivered"] == 7
    second = dataset()
    second._manifest = first.manifest()  # the same listing (the object is gone from a new one)
    second.load_state_dict(state)
    rest = list(second)
    assert [n for n, _ in taken + rest] == [n for n in names if n != names[2]]


def test_multishard_resumes(cluster: LocalCluster, bucket: str) -> None:
    for s in range(3):
        cluster.put_object(
            bucket, f"a/{s}.tar", tar_of([(f"{k}.x", b"%d:%d" % (s, k)) for k in range(4)])
        )
    url = f"ais://{bucket}/a/"
    whole = list(AISMultiShardStream([url, url], endpoint=cluster.endpoint, config=FAST))
    first = AISMultiShardStream([url, url], endpoint=cluster.endpoint, config=FAST)
    taken = list(itertools.islice(iter(first), 5))
    second = AISMultiShardStream([url, url], endpoint=cluster.endpoint, config=FAST)
    second.load_state_dict(first.state_dict())
    assert taken + list(second) == whole


@pytest.mark.parametrize(("workers", "cut"), [(0, 4), (2, 5), (3, 7), (3, 14)])
def test_plain_dataloader_resumes_from_counted_batches(
    cluster: LocalCluster, objects: dict[str, bytes], workers: int, cut: int
) -> None:
    whole = [s for b in data_loader(_iter(cluster), workers, "fork", batch_size=4) for s in b]
    dataset = _iter(cluster)
    progress = LoaderProgress(dataset, batch_size=4, num_workers=workers)
    taken = []
    for batch in itertools.islice(data_loader(dataset, workers, "fork", batch_size=4), cut):
        taken += batch
        progress.step()
    state = progress.state_dict()
    resumed = _iter(cluster)
    resumed.load_state_dict(state)
    rest = [s for b in data_loader(resumed, workers, "fork", batch_size=4) for s in b]
    assert_exactly_once(taken + rest, objects)
    assert [n for n, _ in taken + rest] == [n for n, _ in whole]
