"""Scenario 8: the official repository's integration tests of the plugin
(``python/tests/integration/pytorch/test_pytorch_plugin.py`` and ``test_samplers.py`` of
NVIDIA/aistore), rewritten for the embedded cluster and run against both implementations with
only the import changed. Same checks as theirs (a few made stricter where theirs could not
fail); their ``tests.utils`` helpers are replaced by our fixtures and the SDK."""

from __future__ import annotations

import multiprocessing
import os
import random
import sys
from types import ModuleType
from typing import Any

import pytest
from aistore.sdk import Bucket, Client
from aistore.sdk.dataset.data_shard import DataShard
from torch.utils.data import DataLoader

from aisloader.server import LocalCluster

from .util import iterate, mod, put_shard

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create 4 worker:UserWarning")


@pytest.fixture
def bck(cluster: LocalCluster, bucket: str) -> Bucket:
    """The test's bucket as an SDK object (their ``self.bck``)."""
    return Client(cluster.endpoint).bucket(bucket)


def create_test_objects(bck: Bucket, count: int) -> dict[str, bytes]:
    """``temp/obj{i}`` with random content, put through the SDK (their helper)."""
    rng = random.Random(count)
    content = {}
    for i in range(count):
        name = f"temp/obj{i}"
        content[name] = rng.randbytes(rng.randint(1, 2048))
        bck.object(name).get_writer().put_content(content[name])
    return content


def verify(received: dict[str, bytes], expected: dict[str, bytes]) -> None:
    assert len(received) == len(expected)
    for name, data in received.items():
        assert data == expected[name]


def test_ais_dataset(impl: ModuleType, bck: Bucket) -> None:
    content = create_test_objects(bck, 10)
    dataset = impl.AISMapDataset(ais_source_list=[bck])

    assert len(dataset) == len(content)
    for name in content:
        got_name, data = dataset[list(content).index(name)]
        assert got_name == name
        assert data == content[name]


def test_ais_iter_dataset(impl: ModuleType, bck: Bucket) -> None:
    content = create_test_objects(bck, 10)
    dataset = impl.AISIterDataset(ais_source_list=bck)

    assert len(dataset) == len(content)
    seen = 0
    for i, (name, data) in enumerate(dataset):
        assert name == f"temp/obj{i}"
        assert data == content[name]
        seen += 1
    assert seen == len(content)


@pytest.mark.parametrize("style", ["iter", "map"])
def test_ais_dataloader(impl: ModuleType, bck: Bucket, style: str) -> None:
    content = create_test_objects(bck, 10)
    cls = impl.AISIterDataset if style == "iter" else impl.AISMapDataset
    loader = DataLoader(cls(ais_source_list=bck), batch_size=1, shuffle=False, num_workers=4)

    received = {names[0]: datas[0] for names, datas in loader}

    verify(received, content)


@pytest.mark.skipif(sys.platform != "linux", reason="local subclasses need fork workers")
@pytest.mark.parametrize("style", ["iter", "map"])
def test_ais_dataloader_multiprocessing(impl: ModuleType, bck: Bucket, style: str) -> None:
    content = create_test_objects(bck, 10)
    with multiprocessing.Manager() as manager:
        pids = manager.list()

        class TestableIter(impl.AISIterDataset):  # type: ignore[misc, name-defined]
            def __iter__(self):  # type: ignore[no-untyped-def]
                pids.append(os.getpid())
                return super().__iter__()

        class TestableMap(impl.AISMapDataset):  # type: ignore[misc, name-defined]
            def __getitem__(self, index: int):  # type: ignore[no-untyped-def]
                pids.append(os.getpid())
                return super().__getitem__(index)

        dataset = (TestableIter if style == "iter" else TestableMap)(ais_source_list=bck)
        loader: DataLoader[Any] = DataLoader(dataset, batch_size=1, shuffle=False, num_workers=4)
        received = {names[0]: datas[0] for names, datas in loader}
        worker_pids = set(pids)

    verify(received, content)
    assert len(worker_pids) > 1, f"expected several worker processes: {worker_pids}"
    assert os.getpid() not in worker_pids


def test_multishard_stream(impl: ModuleType, cluster: LocalCluster, bck: Bucket) -> None:
    shard1 = {"file1.txt": b"Content of file one", "file2.txt": b"Content of file two"}
    shard1["file3.txt"] = b"Content of file three"
    shard2 = {"file1.cls": b"1", "file2.cls": b"2", "file3.cls": b"3"}
    put_shard(cluster, bck.name, "test_multishard_shard1.tar", shard1)
    put_shard(cluster, bck.name, "test_multishard_shard2.tar", shard2)
    sources = [
        DataShard(client_url=cluster.endpoint, bucket_name=bck.name, prefix=prefix)
        for prefix in ("test_multishard_shard1.tar", "test_multishard_shard2.tar")
    ]

    dataset = impl.AISMultiShardStream(data_sources=sources)

    combined = list(zip(shard1.values(), shard2.values(), strict=True))
    got = iterate(dataset)
    for i, content in enumerate(got):
        assert content == combined[i]
    assert len(got) == len(combined)


def _sample(word: str) -> dict[str, bytes]:
    return {
        ext: f"{kind} content of sample {word}".encode()
        for ext, kind in (("cls", "Class"), ("jpg", "Jpg"), ("png", "Png"))
    }


def test_shard_reader(impl: ModuleType, cluster: LocalCluster, bck: Bucket) -> None:
    words = {1: "one", 2: "two", 3: "three", 4: "four"}
    expected = [_sample(word) for word in words.values()]
    for shard, numbers in (("shard1.tar", (1, 2)), ("shard2.tar", (3, 4))):
        members = {
            f"sample_{n}.{ext}": data for n in numbers for ext, data in expected[n - 1].items()
        }
        put_shard(cluster, bck.name, shard, members)
    names = [f"sample_{n}" for n in words]

    first_only = impl.AISShardReader(bucket_list=[bck], prefix_map={bck: "shard1.tar"})
    got = iterate(first_only)
    for i, (basename, sample) in enumerate(got):
        assert basename == names[i]
        assert sample == expected[i]
    assert len(got) == 2  # stricter: the prefix keeps shard2 out

    everything = impl.AISShardReader(bucket_list=[bck])
    got = iterate(everything)
    for i, (basename, sample) in enumerate(got):
        assert basename == names[i]
        assert sample == expected[i]
    assert len(got) == 4


def test_ais_batch_iter_dataset(impl: ModuleType, cluster: LocalCluster, bck: Bucket) -> None:
    content = create_test_objects(bck, 10)
    client = Client(cluster.endpoint)
    dataset = mod(impl, "batch_iter_dataset").AISBatchIterDataset(
        ais_source_list=bck, client=client
    )

    verify(dict(iterate(dataset)), content)


MIN_OBJ_SIZE = 1_000
MAX_OBJ_SIZE = 100_000  # theirs: 1 MB; smaller here to keep the suite fast
NUM_OBJECTS = 20
MAX_BATCH_SIZE = 150_000


def test_dynamic_sampler(impl: ModuleType, bck: Bucket) -> None:
    rng = random.Random(7)
    for i in range(NUM_OBJECTS):
        size = rng.randint(0, MAX_OBJ_SIZE - MIN_OBJ_SIZE - 100) + MIN_OBJ_SIZE
        bck.object(f"object-{i}").get_writer().put_content(b"\0" * size)
    dataset = impl.AISMapDataset(ais_source_list=bck)
    convert_bytes_to_mb = mod(impl, "utils").convert_bytes_to_mb

    loader = DataLoader(
        dataset=dataset,
        batch_sampler=impl.DynamicBatchSampler(data_source=dataset, max_batch_size=MAX_BATCH_SIZE),
    )

    num_objects = 0
    for names, content in loader:
        assert names is not None
        assert content is not None
        assert len(names) == len(content)
        batch_size = 0
        for data in content:
            data_size = sys.getsizeof(data)
            assert MIN_OBJ_SIZE <= data_size < MAX_OBJ_SIZE
            batch_size += data_size
        assert convert_bytes_to_mb(batch_size) <= MAX_BATCH_SIZE
        assert sum(len(data) for data in content) <= MAX_BATCH_SIZE  # stricter: in bytes
        num_objects += len(names)
    assert num_objects == NUM_OBJECTS
