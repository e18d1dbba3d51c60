"""Differences from the plugin that these tests found (the plugin's behaviour was not a
defect) and that aisloader now matches: each runs on both implementations (others sit with
their scenario: ``test_sources``, ``test_subclasses``, ``test_shards_batch``,
``test_sampler``)."""

from __future__ import annotations

import tarfile
from types import ModuleType
from typing import Any

import pytest
from _shared import tar_of
from aistore.sdk import Client
from aistore.sdk.errors import AISError

from aisloader.server import LocalCluster

from .util import impl_params, mod, put


@pytest.mark.parametrize(
    "impl",
    impl_params(),
    indirect=True,
)
def test_parallel_map_sample_is_a_closable_buffer(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    objects = put(cluster, bucket, ["p/0"])
    dataset = impl.AISParallelMapDataset(Client(cluster.endpoint).bucket(bucket), num_workers=2)

    name, buf = dataset[0]
    with buf:  # the plugin's documented use
        data = buf.tobytes()
        view = bytes(buf.buf)

    assert (name, data, view, len(buf)) == ("p/0", objects["p/0"], objects["p/0"], len(data))


@pytest.mark.parametrize(
    "impl",
    impl_params(),
    indirect=True,
)
def test_parse_url_keeps_the_scheme(impl: ModuleType) -> None:
    parse_url = mod(impl, "utils").parse_url

    assert parse_url("gs://b/x/y") == ("gs", "b", "x/y")
    assert parse_url("s3://b/o") == ("s3", "b", "o")
    assert parse_url("az://b/o") == ("az", "b", "o")


@pytest.mark.parametrize(
    "impl",
    impl_params(),
    indirect=True,
)
def test_samples_before_a_failing_object_are_delivered(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    objects = put(cluster, bucket, ["k/0", "k/1", "k/3"])
    names = ["k/0", "k/1", "k/none", "k/3"]
    dataset = impl.AISIterDataset(Client(cluster.endpoint).bucket(bucket).objects(obj_names=names))

    got: list[Any] = []

    def consume() -> None:
        for sample in dataset:
            got.append(sample)

    with pytest.raises(AISError):
        consume()

    assert got == [("k/0", objects["k/0"]), ("k/1", objects["k/1"])]


@pytest.mark.parametrize(
    "impl",
    impl_params(),
    indirect=True,
)
def test_every_listed_object_is_a_shard(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    cluster.put_object(bucket, "shard-0.tar", tar_of({"a.cls": b"0"}))
    cluster.put_object(bucket, "shard-1", tar_of({"b.cls": b"1"}))

    reader = impl.AISShardReader(Client(cluster.endpoint).bucket(bucket))

    assert [key for key, _ in reader] == ["a", "b"]


@pytest.mark.parametrize(
    "impl",
    impl_params(),
    indirect=True,
)
def test_corrupt_shard_is_a_tar_error(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "0.tar", b"this is not a tar archive" * 40)

    with pytest.raises(tarfile.TarError):
        for _ in impl.AISShardReader(Client(cluster.endpoint).bucket(bucket)):
            pass
