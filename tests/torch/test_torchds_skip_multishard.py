"""on_error="skip" for AISMultiShardStream: a tuple with a member that cannot be read (a
corrupt shard, a missing member) is skipped whole, never handed out in part, and recorded; the
report names the member; one skip past the budget raises ``SkipBudgetExceeded`` whose report
reaches the main process whole."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest
from _shared import FAST, data_loader, load, tar_of
from torchds_util import batches_then_error

from aisloader import SkipBudgetExceeded
from aisloader.errors import AISError, ConfigError
from aisloader.server import LocalCluster
from aisloader.torch import AISMultiShardStream

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

TUPLES = 12
"""Column a: 3 shards of 4 members; column b: 2 shards of 6."""
SKIPPED = (4, 5, 6, 7, 9)
"""a/01.tar is corrupt (tuples 4-7), b/01.tar lost its member 003.y (tuple 9). With two
parts (positions dealt in turn), part 0 skips 4 and 6, part 1 skips 5, 7 and 9."""


def _tuple(i: int) -> tuple[bytes, ...]:
    return f"a/{i // 4}:{i % 4}".encode(), f"b/{i // 6}:{i % 6}".encode()


def _shard(prefix: str, shard: int, members: Iterable[int], ext: str) -> bytes:
    return tar_of([(f"{k:03d}.{ext}", f"{prefix}/{shard}:{k}".encode()) for k in members])


def _member(bucket: str, i: int) -> str:
    """The first member of tuple ``i`` that cannot be read."""
    if i // 4 == 1:
        return f"ais://{bucket}/a/01.tar?archpath={i % 4:03d}.x"
    return f"ais://{bucket}/b/01.tar?archpath={i % 6:03d}.y"


def _damaged(cluster: LocalCluster, bucket: str, **kw: Any) -> AISMultiShardStream:
    """The stream over both columns, listed, then its shards damaged."""
    for s in range(3):
        cluster.put_object(bucket, f"a/{s:02d}.tar", _shard("a", s, range(4), "x"))
    for s in range(2):
        cluster.put_object(bucket, f"b/{s:02d}.tar", _shard("b", s, range(6), "y"))
    urls = [f"ais://{bucket}/a/", f"ais://{bucket}/b/"]
    stream = AISMultiShardStream(urls, endpoint=cluster.endpoint, config=FAST, **kw)
    assert len(stream) == TUPLES  # listed now, damaged next
    cluster.put_object(bucket, "a/01.tar", b"not a tar archive" * 40)
    cluster.put_object(bucket, "b/01.tar", _shard("b", 1, [0, 1, 2, 4, 5], "y"))
    return stream


def _index(item: tuple[bytes, ...]) -> int:
    return [_tuple(i) for i in range(TUPLES)].index(item)  # a whole tuple, or ValueError


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork")])
def test_a_tuple_with_an_unreadable_member_is_skipped_whole(
    cluster: LocalCluster,
    bucket: str,
    workers: int,
    method: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = _damaged(cluster, bucket, on_error="skip", skip_budget=5)
    with caplog.at_level(logging.WARNING, logger="aisloader.skips"):
        got = Counter(_index(item) for item in load(stream, workers, method, batch_size=2))
    assert max(got.values()) == 1
    assert set(got) == set(range(TUPLES)) - set(SKIPPED)  # delivered ∪ skipped == all
    if workers == 0:
        report = stream.skip_report()
        assert [r["object"] for r in report] == [_member(bucket, i) for i in SKIPPED]
        errors = [r["error"].split(":")[0] for r in report]
        assert errors == ["AISError"] * 4 + ["ObjectNotFound"]  # 400: unreadable archive
        assert any("skipped 5 objects" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork"), (2, "spawn")])
def test_one_skip_past_the_budget_raises_with_its_report(
    cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    stream = _damaged(cluster, bucket, on_error="skip", skip_budget=2)
    batches, error = batches_then_error(stream, workers, method, batch_size=2)
    assert isinstance(error, SkipBudgetExceeded)
    third = SKIPPED[:3] if workers == 0 else (*SKIPPED[1::2], 9)  # this part's skips
    assert [r["object"] for r in error.report] == [_member(bucket, i) for i in third]
    got = sorted(_index(item) for batch in batches for item in batch)
    if workers == 0:  # one part: what came before the third skip
        assert got == [0, 1, 2, 3]
    else:  # batches alternate between the parts: 2 of part 1's before it raised
        assert got == [0, 1, 2, 3, 8, 10]


def test_the_default_raises_and_so_does_a_bad_policy(cluster: LocalCluster, bucket: str) -> None:
    with pytest.raises(AISError) as info:  # the corrupt shard, the first in reading order
        list(data_loader(_damaged(cluster, bucket), 0, batch_size=20))
    assert (info.value.status, info.value.url) == (400, f"ais://{bucket}/a/01.tar")
    with pytest.raises(ConfigError, match="on_error"):
        AISMultiShardStream([f"ais://{bucket}/a/"], on_error="ignore")  # type: ignore[arg-type]
