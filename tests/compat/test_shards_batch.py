"""Scenario 5: shard samples with missing extensions (the plugin's padding) across shards, and
the get-batch options of ``AISBatchIterDataset`` (archive format, streaming, ``cont_on_err``,
colocation)."""

from __future__ import annotations

from types import ModuleType

import pytest
from aistore.sdk import Client
from aistore.sdk.enums import Colocation

from aisloader.server import Fault, LocalCluster

from .util import deleted_while_batched, impl_params, iterate, mod, put, put_shard


def test_padding_across_two_shards(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    put_shard(cluster, bucket, "0.tar", {"a.cls": b"0", "a.jpg": b"A", "b.cls": b"1"})
    put_shard(cluster, bucket, "1.tar", {"c.jpg": b"C", "d.cls": b"3", "d.jpg": b"D"})

    reader = impl.AISShardReader(Client(cluster.endpoint).bucket(bucket))

    assert iterate(reader) == [
        ("a", {"cls": b"0", "jpg": b"A"}),
        ("b", {"cls": b"1", "jpg": b""}),
        ("c", {"cls": b"", "jpg": b"C"}),
        ("d", {"cls": b"3", "jpg": b"D"}),
    ]


@pytest.mark.parametrize(
    "impl",
    impl_params(),
    indirect=True,
)
def test_padding_is_what_was_seen_so_far(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    """The plugin pads with the extensions of the shards read so far (the current one whole);
    the second shard brings ``txt``, and the first shard's GET is held back a little so that a
    reader reading ahead has seen the second shard before the first one's samples."""
    put_shard(cluster, bucket, "0.tar", {"a.cls": b"0", "b.cls": b"1", "b.jpg": b"B"})
    put_shard(cluster, bucket, "1.tar", {"c.txt": b"T", "d.cls": b"3"})
    cluster.set_faults(
        [Fault("latency", every=1, delay=0.3, hop="target", path_prefix=f"/v1/objects/{bucket}/0")]
    )

    reader = impl.AISShardReader(Client(cluster.endpoint).bucket(bucket))

    assert [(key, sorted(sample)) for key, sample in iterate(reader)] == [
        ("a", ["cls", "jpg"]),
        ("b", ["cls", "jpg"]),
        ("c", ["cls", "jpg", "txt"]),
        ("d", ["cls", "jpg", "txt"]),
    ]


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "buffered"])
@pytest.mark.parametrize("output_format", [".tar", ".tgz", ".zip"])
def test_batch_output_formats(
    impl: ModuleType, cluster: LocalCluster, bucket: str, output_format: str, streaming: bool
) -> None:
    objects = put(cluster, bucket, [f"f/{i}" for i in range(5)])
    client = Client(cluster.endpoint)

    dataset = mod(impl, "batch_iter_dataset").AISBatchIterDataset(
        client.bucket(bucket),
        client,
        max_batch_size=2,
        output_format=output_format,
        streaming=streaming,
    )

    assert iterate(dataset) == list(objects.items())


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "buffered"])
def test_batch_cont_on_err_skips_a_missing_object(
    impl: ModuleType, cluster: LocalCluster, bucket: str, streaming: bool
) -> None:
    objects = put(cluster, bucket, [f"c/{i}" for i in range(4)])
    client = Client(cluster.endpoint)
    dataset = mod(impl, "batch_iter_dataset").AISBatchIterDataset(
        client.bucket(bucket), client, max_batch_size=4, streaming=streaming, cont_on_err=True
    )

    with deleted_while_batched(cluster, client, bucket, "c/2"):
        got = iterate(dataset)

    assert got == [(n, d) for n, d in objects.items() if n != "c/2"]


def test_batch_colocation(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    objects = put(cluster, bucket, [f"t/{i}" for i in range(3)])
    client = Client(cluster.endpoint)
    batch_iter = mod(impl, "batch_iter_dataset").AISBatchIterDataset

    aware = batch_iter(client.bucket(bucket), client, colocation=Colocation.TARGET_AWARE)
    assert iterate(aware) == list(objects.items())
    with pytest.raises(NotImplementedError):  # aisloader: at construction; the plugin: first batch
        iterate(
            batch_iter(client.bucket(bucket), client, colocation=Colocation.TARGET_AND_SHARD_AWARE)
        )
