"""``DynamicBatchSampler``: the plugin's batching rule (close a batch that would overflow,
include an object that fills it exactly, skip empty and oversized objects with a warning,
``drop_last`` below the saturation factor) gives the same batches in both implementations."""

from __future__ import annotations

import logging
from types import ModuleType

import pytest
from _shared import load
from aistore.sdk import Client

from aisloader.server import LocalCluster

from .util import impl_params, mod

SIZES = [30, 50, 0, 120, 20, 60, 40, 10]  # bytes of s0..s7; max_batch_size 100


def _dataset(impl: ModuleType, cluster: LocalCluster, bucket: str, sizes: list[int]) -> object:
    for i, size in enumerate(sizes):
        cluster.put_object(bucket, f"s{i}", bytes([65 + i]) * size)
    return impl.AISMapDataset(Client(cluster.endpoint).bucket(bucket))


@pytest.mark.parametrize(
    ("oversized", "drop_last", "expected"),
    [
        (False, False, [[0, 1, 4], [5, 6], [7]]),
        (True, False, [[3], [0, 1, 4], [5, 6], [7]]),
        (False, True, [[0, 1, 4], [5, 6]]),
    ],
    ids=["default", "allow-oversized", "drop-last"],
)
def test_batches(
    impl: ModuleType,
    cluster: LocalCluster,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
    oversized: bool,
    drop_last: bool,
    expected: list[list[int]],
) -> None:
    dataset = _dataset(impl, cluster, bucket, SIZES)
    sampler = mod(impl, "dynamic_sampler").DynamicBatchSampler(
        dataset, max_batch_size=100, drop_last=drop_last, allow_oversized_samples=oversized
    )

    with caplog.at_level(logging.WARNING):
        batches = list(iter(sampler))
        loaded = load(dataset, batch_sampler=sampler)

    assert batches == expected
    assert [name for name, _ in loaded] == [f"s{i}" for batch in expected for i in batch]
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    skipped = ["s2"] if oversized else ["s2", "s3"]
    assert all(name in warned for name in skipped), warned


@pytest.mark.parametrize(
    "impl",
    impl_params(),
    indirect=True,
)
def test_drop_last_at_the_saturation_boundary(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    dataset = _dataset(impl, cluster, bucket, [60, 40, 57])

    sampler = impl.DynamicBatchSampler(
        dataset, max_batch_size=100, drop_last=True, saturation_factor=0.57
    )

    assert list(iter(sampler)) == [[0, 1]]


def test_bad_saturation_factor(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    dataset = _dataset(impl, cluster, bucket, [1])

    with pytest.raises(ValueError, match="saturation_factor"):
        impl.DynamicBatchSampler(dataset, max_batch_size=10, saturation_factor=1.5)
