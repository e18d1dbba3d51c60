"""Scenario 1: the plugin README's snippets, with only the import changed, give the same
output with ``aistore.pytorch`` and ``aisloader.torch`` (the cluster is the embedded one, the
bucket names are the test's)."""

from __future__ import annotations

from types import ModuleType

import pytest
from _shared import tar_of
from aistore.sdk import Client
from torch.utils.data import DataLoader

from aisloader.server import LocalCluster

from .util import mod, put


def test_map_dataset_over_two_buckets(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    first = put(cluster, bucket, ["a/1", "a/2", "b/1"])
    second = put(cluster, f"{bucket}-2", ["c/1", "c/2"])
    client = Client(cluster.endpoint)

    dataset = impl.AISMapDataset(
        ais_source_list=[client.bucket(bck_name=bucket), client.bucket(bck_name=f"{bucket}-2")]
    )
    got = [dataset[i] for i in range(len(dataset))]

    assert got == [*first.items(), *second.items()]


def test_iterable_over_an_object_group(impl: ModuleType, cluster: LocalCluster) -> None:
    client = Client(cluster.endpoint)
    bucket = client.bucket(f"my-bck-{impl.__name__.replace('.', '-')}").create(exist_ok=True)
    object_names = [f"example_obj_{i}" for i in range(10)]
    for name in object_names:
        bucket.object(name).get_writer().put_content(f"object content {name}".encode())
    my_objects = bucket.objects(obj_names=object_names[::-1])

    dataset = impl.AISIterDataset(ais_source_list=my_objects)
    got = [data_sample for data_sample in dataset]

    assert got == [(name, f"object content {name}".encode()) for name in object_names[::-1]]


def test_shard_reader(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(
        bucket,
        "shard-0.tar",
        tar_of({"s1.jpg": b"j1", "s1.cls": b"1", "s2.jpg": b"j2", "s2.cls": b"2"}),
    )
    client = Client(cluster.endpoint)

    shard_reader = impl.AISShardReader(bucket_list=client.bucket(bucket))
    got = [(basename, sorted(content_dict)) for basename, content_dict in shard_reader]

    assert got == [("s1", ["cls", "jpg"]), ("s2", ["cls", "jpg"])]


@pytest.mark.filterwarnings("ignore:.*pin_memory.*:UserWarning")
@pytest.mark.filterwarnings("ignore:This DataLoader will create 4 worker:UserWarning")
def test_dataloader_over_a_map_dataset(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    first = put(cluster, bucket, [f"d1/{i}" for i in range(6)])
    second = put(cluster, f"{bucket}-2", [f"d2/{i}" for i in range(5)])
    client = Client(cluster.endpoint)
    dataset1_bck, dataset2_bck = client.bucket(bucket), client.bucket(f"{bucket}-2")

    train_loader = DataLoader(
        impl.AISMapDataset(ais_source_list=[dataset1_bck, dataset2_bck]),
        batch_size=32,
        shuffle=True,
        num_workers=4,
        pin_memory=True,
    )
    got = [pair for names, datas in train_loader for pair in zip(names, datas, strict=True)]

    assert sorted(got) == sorted([*first.items(), *second.items()])


def test_batch_iter_dataset(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    expected = put(cluster, bucket, [f"obj-{i:02d}" for i in range(9)])
    client = Client(cluster.endpoint)

    batch_dataset = mod(impl, "batch_iter_dataset").AISBatchIterDataset(
        ais_source_list=client.bucket(bucket),
        client=client,
        max_batch_size=4,
        streaming=True,
        show_progress=False,
    )
    got = [sample for sample in batch_dataset]

    assert got == list(expected.items())
