"""Typed errors reach the training loop whole through DataLoader workers.

torch re-raises a worker's exception as ``exc_type(text)`` with only the formatted traceback
(``torch._utils.ExceptionWrapper.reraise``); ``aisloader.errors`` reads the fields back from
that text, so ``status``, ``tcode``, ``url`` and ``message`` (and a corrupt shard's ``shard``,
``offset`` and ``reason``) arrive as they were raised, under every start method. Each test
compares a pass with two workers with the same pass in-process (no workers). The rebuild itself
is tested for every class in ``tests/pure/test_errors_roundtrip.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from _shared import FAST, put_objects, tar_of
from torchds_util import load_error

from aisloader.bridge.client import Client
from aisloader.errors import ObjectNotFound, ShardFormatError
from aisloader.server import LocalCluster
from aisloader.torch import AISIterDataset, AISMapDataset, AISShardReader

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
CASES = [(AISMapDataset, "fork"), (AISMapDataset, "spawn"), (AISIterDataset, "fork")]
"""Spawn costs two fresh interpreters importing torch (seconds): once is enough."""


def fields(exc: BaseException) -> dict[str, Any]:
    return {k: v for k, v in vars(exc).items() if k != "__notes__"}


@pytest.mark.parametrize(("cls", "method"), CASES)
def test_a_missing_object_keeps_its_fields(
    cluster: LocalCluster, bucket: str, cls: type[Any], method: str
) -> None:
    put_objects(cluster, bucket, 12)
    dataset = cls(f"ais://{bucket}", endpoint=cluster.endpoint, config=FAST)
    assert len(dataset) == 12  # listed now, deleted next
    with Client(cluster.endpoint, config=FAST) as client:
        client.delete((bucket, "o/00005"))

    here = load_error(dataset, 0)
    there = load_error(dataset, 2, method)

    assert isinstance(there, ObjectNotFound)
    assert type(there) is type(here)
    assert fields(there) == fields(here)
    assert (there.status, there.url) == (404, f"ais://{bucket}/o/00005")
    assert there.tcode
    assert "in DataLoader worker process" in str(there)


def test_a_corrupt_shard_keeps_shard_and_offset(cluster: LocalCluster, bucket: str) -> None:
    good = tar_of([(f"s{k}.{e}", b"%d" % k) for k in range(4) for e in ("jpg", "cls")])
    bad = bytearray(good)
    bad[3 * 1024 + 5] ^= 0x20  # a name byte of a later header: its checksum fails
    cluster.put_object(bucket, "c/bad.tar", bytes(bad))
    dataset = AISShardReader(f"ais://{bucket}/c/", endpoint=cluster.endpoint, config=FAST)

    here = load_error(dataset, 0)
    there = load_error(dataset, 2, "fork")

    assert isinstance(there, ShardFormatError)
    assert type(there) is type(here)
    assert fields(there) == fields(here)
    assert there.shard == f"ais://{bucket}/c/bad.tar"
    assert there.reason
