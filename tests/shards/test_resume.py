"""Shard readers resume inside a shard: the samples not yet delivered, in the uninterrupted
order (plugin form: shard after shard, no sample shuffle buffer); other modes refuse loudly."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from _shared import FAST, keep, tar_of
from torchdata.stateful_dataloader import StatefulDataLoader

from aisloader.errors import ResumeError
from aisloader.server import LocalCluster
from aisloader.torch import AISShardReader


def _put(cluster: LocalCluster, bucket: str) -> None:
    for s in range(5):
        samples = [
            (f"s{s}-{k:02d}.{ext}", b"%d:%d:%s" % (s, k, ext.encode()))
            for k in range(9)
            for ext in ("jpg", "cls")
        ]
        cluster.put_object(bucket, f"train/{s}.tar", tar_of(samples))


def _loader(dataset: Any, workers: int) -> StatefulDataLoader:
    return StatefulDataLoader(dataset, batch_size=4, num_workers=workers, collate_fn=keep)


@pytest.mark.parametrize(("workers", "cut"), [(0, 3), (0, 0), (2, 5)])
def test_plugin_form_resumes_inside_a_shard(
    cluster: LocalCluster, bucket: str, workers: int, cut: int
) -> None:
    _put(cluster, bucket)

    def reader() -> AISShardReader:
        return AISShardReader(
            f"ais://{bucket}/train/", endpoint=cluster.endpoint, config=FAST, shuffle=True, seed=2
        )

    whole = [s for b in _loader(reader(), workers) for s in b]
    assert len(whole) == 45
    first = _loader(reader(), workers)
    taken = [s for b in itertools.islice(iter(first), cut) for s in b]
    state = first.state_dict()
    second = _loader(reader(), workers)
    second.load_state_dict(state)
    rest = [s for b in second for s in b]
    assert [k for k, _ in taken + rest] == [k for k, _ in whole]
    assert taken + rest == whole


def test_modes_that_cannot_resume_mid_shard_refuse(cluster: LocalCluster, bucket: str) -> None:
    _put(cluster, bucket)
    url = f"ais://{bucket}/train/"
    reader = AISShardReader(
        url, endpoint=cluster.endpoint, config=FAST, sample_format="dict", shuffle_buffer=4
    )
    list(itertools.islice(iter(reader), 3))
    state = reader.state_dict()
    again = AISShardReader(
        url, endpoint=cluster.endpoint, config=FAST, sample_format="dict", shuffle_buffer=4
    )
    again.load_state_dict(state)
    with pytest.raises(ResumeError, match="shuffle buffer"):
        list(again)
