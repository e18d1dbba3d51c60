"""on_error="skip" for AISShardMapDataset: a shard the cluster cannot read as an archive is
left out of the index (within a budget counted in shards, reported, logged), never silently;
a batch leaves out each sample with a member that cannot be read (budget per pass of each
process, as the map datasets); one skip too many raises SkipBudgetExceeded whose report
reaches the main process whole; a single index cannot skip; the default still raises."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest
from _shared import FAST, batches_then_error, data_loader, tar_of

from aisloader import SkipBudgetExceeded
from aisloader.core.listing.shard_index import ShardIndex
from aisloader.core.listing.sources import ObjectList
from aisloader.errors import ConfigError, ObjectNotFound, ShardFormatError, SkipNeedsBatches
from aisloader.server import LocalCluster
from aisloader.torch import AISShardMapDataset

from .util import data_of, ids, put_regular, regular_shard

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

BUCKET = "shardskip"
BAD = ("i/shard-001b.tar", "i/shard-002b.tar")
"""Truncated (its first 700 bytes), and corrupt (a header spoilt mid-file); listed in this
order, among the good shards ``i/shard-00{0..3}.tar``."""
EXTS = ("cls", "jpg")
GONE = {1: ("cls",), 3: ("cls", "jpg"), 9: ("jpg",)}
"""Samples of ``r/`` (3 shards x 4 samples, by index) whose members are dropped after
indexing. With batches of 4 and 2 workers, worker 0 reads batches 0 and 2 (indices 0-3,
8-11): all three; worker 1 none."""


@pytest.fixture(scope="module")
def good(cluster: LocalCluster) -> set[tuple[str, str]]:
    """``(url, key)`` of the samples of the good shards under ``i/`` (beside the two bad)."""
    cluster.create_bucket(BUCKET)
    out = put_regular(cluster, BUCKET, 4, 3, prefix="i/")
    whole = regular_shard(8, 4)  # 12 members of 1024 bytes (header + one data block)
    spoilt = bytearray(whole)
    spoilt[5 * 1024 + 100 : 5 * 1024 + 140] = b"Z" * 40  # inside the 6th member's header
    cluster.put_object(BUCKET, BAD[0], whole[:700])
    cluster.put_object(BUCKET, BAD[1], bytes(spoilt))
    return out


@pytest.fixture(scope="module")
def index(cluster: LocalCluster, good: set[tuple[str, str]]) -> ShardIndex:
    """The index of ``r/``, then the members of ``GONE`` dropped (the index still names them)."""
    put_regular(cluster, BUCKET, 3, 4, prefix="r/", exts=EXTS)
    built = AISShardMapDataset(f"ais://{BUCKET}/r/", endpoint=cluster.endpoint).index
    for s in range(3):
        kept = [
            (f"k{s:03d}-{k:04d}.{ext}", data_of(s, k, ext))
            for k in range(4)
            for ext in EXTS
            if ext not in GONE.get(s * 4 + k, ())
        ]
        cluster.put_object(BUCKET, f"r/shard-{s:03d}.tar", tar_of(kept))
    return built


def _uri(name: str) -> str:
    return f"ais://{BUCKET}/{name}"


def _first_gone(i: int) -> str:
    """What the report names for sample ``i`` of ``r/``: its first member (by name) dropped."""
    s, k = divmod(i, 4)
    return _uri(f"r/shard-{s:03d}.tar?archpath=k{s:03d}-{k:04d}.{GONE[i][0]}")


def _keys(samples: list[Any]) -> list[int]:
    """The index in ``r/`` of each sample."""
    return [int(s["__url__"][-5]) * 4 + int(s["__key__"][-4:]) for s in samples]


def _reading(cluster: LocalCluster, index: ShardIndex, **kw: Any) -> AISShardMapDataset:
    kw.setdefault("on_error", "skip")
    return AISShardMapDataset(index=index, endpoint=cluster.endpoint, config=FAST, **kw)


def test_a_bad_shard_raises_by_default_and_past_the_budget(
    cluster: LocalCluster, good: set[tuple[str, str]]
) -> None:
    url = f"ais://{BUCKET}/i/"
    with pytest.raises(ShardFormatError, match=r"ais://shardskip/i/shard-001b\.tar"):
        AISShardMapDataset(url, endpoint=cluster.endpoint, config=FAST)
    # a fraction of the 6 shards (0.1: 1 allowed), not of the samples; then a count
    for budget in (0.1, 1):
        with pytest.raises(SkipBudgetExceeded, match="2 of 6 shards") as e:
            AISShardMapDataset(url, endpoint=cluster.endpoint, on_error="skip", skip_budget=budget)
        assert [r["object"] for r in e.value.report] == [_uri(n) for n in BAD]
        assert all(r["error"].startswith("ShardFormatError: ") for r in e.value.report)
    with pytest.raises(ConfigError) as none_left:  # within the budget, but nothing is left
        AISShardMapDataset(
            ObjectList(BUCKET, list(BAD)), endpoint=cluster.endpoint, on_error="skip", skip_budget=2
        )
    assert "2 of the 2 shards listed were left out" in "".join(none_left.value.__notes__)


def test_skip_leaves_bad_shards_out_of_the_index_and_says_so(
    cluster: LocalCluster, good: set[tuple[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    url = f"ais://{BUCKET}/i/"
    with caplog.at_level(logging.WARNING, logger="aisloader.skips"):
        dataset = AISShardMapDataset(
            url, endpoint=cluster.endpoint, on_error="skip", skip_budget=0.3
        )
    assert len(dataset) == len(good) == 12
    got = ids(dataset.__getitems__(range(len(dataset))))
    assert sorted(got) == sorted(good)  # the good shards' samples, each once
    report = dataset.skip_report()
    assert [r["object"] for r in report] == [_uri(n) for n in BAD]
    assert all(r["error"].startswith("ShardFormatError: ") for r in report)
    logged = [r.getMessage() for r in caplog.records if r.name == "aisloader.skips"]
    assert [n for n in BAD if any(_uri(n) in m for m in logged)] == list(BAD)


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork")])
def test_a_batch_leaves_out_samples_with_unreadable_members(
    cluster: LocalCluster,
    index: ShardIndex,
    workers: int,
    method: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dataset = _reading(cluster, index, skip_budget=3)
    with caplog.at_level(logging.WARNING, logger="aisloader.skips"):
        batches = list(data_loader(dataset, workers, method, batch_size=4))
    got = Counter(i for batch in batches for i in _keys(batch))
    assert max(got.values()) == 1
    assert set(got) == set(range(12)) - set(GONE)  # delivered ∪ skipped == all, disjoint
    assert [len(b) for b in batches] == [2, 4, 3]  # one short per skip
    assert all(
        s[ext] == data_of(*divmod(i, 4), ext)
        for b in batches
        for i, s in zip(_keys(b), b, strict=True)
        for ext in EXTS
    )
    if workers == 0:
        assert [r["object"] for r in dataset.skip_report()] == [_first_gone(i) for i in GONE]
        logged = [r.getMessage() for r in caplog.records]
        assert all(any(_first_gone(i) in m for m in logged) for i in GONE)


def test_the_get_batch_path_skips_too(cluster: LocalCluster, index: ShardIndex) -> None:
    dataset = _reading(cluster, index, skip_budget=3, use_batch_api=True)
    assert _keys(dataset.__getitems__(range(12))) == [i for i in range(12) if i not in GONE]
    assert [r["object"] for r in dataset.skip_report()] == [_first_gone(i) for i in GONE]


def test_a_single_index_cannot_skip_and_the_default_raises(
    cluster: LocalCluster, index: ShardIndex
) -> None:
    dataset = _reading(cluster, index)
    assert _keys([dataset[2]]) == [2]
    with pytest.raises(
        SkipNeedsBatches, match=r"sample 'k000-0001' of ais://shardskip/r/shard-000\.tar cannot"
    ) as e:
        dataset[1]
    assert isinstance(e.value.__cause__, ObjectNotFound)
    assert dataset.skip_report() == []  # not skipped: raised
    with pytest.raises(ObjectNotFound):
        _reading(cluster, index, on_error="raise").__getitems__(range(4))


@pytest.mark.parametrize(("workers", "method"), [(2, "fork"), (2, "forkserver")])
def test_one_skip_past_the_budget_raises_with_its_report(
    cluster: LocalCluster, index: ShardIndex, workers: int, method: str
) -> None:
    """The third skip of worker 0 (sample 9, batch 2) is one too many: batches 0 and 1
    arrive (short by two skips), then the error with all three, in the main process."""
    dataset = _reading(cluster, index, skip_budget=2)
    batches, error = batches_then_error(dataset, workers, method)
    assert [_keys(b) for b in batches] == [[0, 2], [4, 5, 6, 7]]
    assert isinstance(error, SkipBudgetExceeded)
    assert "skip_budget=2" in str(error)
    assert [r["object"] for r in error.report] == [_first_gone(i) for i in GONE]  # whole
    assert all(r["error"].startswith("ObjectNotFound: ") for r in error.report)
