"""Scenario 2: every class built from official SDK sources (``Bucket``, ``ObjectGroup``,
``DataShard``, an SDK ``Client``) gives the same samples with both implementations; and the
plugin's module paths, names and class hierarchy exist in aisloader."""

from __future__ import annotations

import logging
from types import ModuleType

import pytest
from _shared import tar_of
from aistore.sdk import Client
from aistore.sdk.dataset.data_shard import DataShard

from aisloader.server import LocalCluster

from .util import MODULES, OURS, PLUGIN, as_bytes, impl_params, iterate, mod, put, put_shard


def test_map_dataset_with_prefix_maps(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    objects = put(cluster, bucket, ["a/0", "a/1", "b/0", "c/0", "c/1"])
    bck = Client(cluster.endpoint).bucket(bucket)

    one = impl.AISMapDataset(bck, prefix_map={bck: "c/"})
    several = mod(impl, "map_dataset").AISMapDataset([bck], prefix_map={bck: ["c/", "a/1"]})

    assert [one[i] for i in range(len(one))] == [(n, objects[n]) for n in ("c/0", "c/1")]
    assert [several[i] for i in range(len(several))] == [
        (n, objects[n]) for n in ("c/0", "c/1", "a/1")
    ]


def test_map_dataset_object_list(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    objects = put(cluster, bucket, ["x", "yy", "zzz"])
    group = Client(cluster.endpoint).bucket(bucket).objects(obj_names=["zzz", "x"])

    dataset = impl.AISMapDataset(group)
    handles = dataset.get_obj_list()

    assert len(dataset) == 2
    assert [dataset[i] for i in range(2)] == [("zzz", objects["zzz"]), ("x", objects["x"])]
    assert [h.name for h in handles] == ["zzz", "x"]
    assert handles[1].get_reader().read_all() == objects["x"]


def test_obj_list_of_a_bucket(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    objects = put(cluster, bucket, ["x", "yy", "zzz"])

    handles = impl.AISMapDataset(Client(cluster.endpoint).bucket(bucket)).get_obj_list()

    assert [(h.name, h.props.size, h.props_cached.size) for h in handles] == [
        (name, len(data), len(data)) for name, data in objects.items()
    ]
    assert [h.get_reader().read_all() for h in handles] == list(objects.values())


@pytest.mark.parametrize(
    "impl",
    impl_params(),
    indirect=True,
)
def test_obj_list_sizes_of_an_object_group(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    objects = put(cluster, bucket, ["x", "yy", "zzz"])
    group = Client(cluster.endpoint).bucket(bucket).objects(obj_names=["zzz", "x"])

    handles = impl.AISMapDataset(group).get_obj_list()

    assert [(h.name, h.props_cached.size, h.props.size) for h in handles] == [
        ("zzz", len(objects["zzz"]), len(objects["zzz"])),
        ("x", len(objects["x"]), len(objects["x"])),
    ]


def test_iter_dataset(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    objects = put(cluster, bucket, ["a/0", "a/1", "b/0", "c/0"])
    bck = Client(cluster.endpoint).bucket(bucket)

    everything = mod(impl, "iter_dataset").AISIterDataset(bck)
    some = impl.AISIterDataset([bck], prefix_map={bck: ["c/", "a/"]})

    assert len(everything) == 4
    assert iterate(everything) == list(objects.items())
    assert iterate(some) == [(n, objects[n]) for n in ("c/0", "a/0", "a/1")]
    assert iterate(some) == [(n, objects[n]) for n in ("c/0", "a/0", "a/1")]  # a second epoch


def test_shard_reader(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    put_shard(cluster, bucket, "train/0.tar", {"k0.cls": b"0", "k0.jpg": b"J0", "k1.cls": b"1"})
    put_shard(cluster, bucket, "train/1.tar", {"k2.jpg": b"J2", "k2.cls": b"2"})
    put_shard(cluster, bucket, "val/0.tar", {"v0.cls": b"v"})
    bck = Client(cluster.endpoint).bucket(bucket)

    reader = mod(impl, "shard_reader").AISShardReader([bck], prefix_map={bck: "train/"})

    assert iterate(reader) == [
        ("k0", {"cls": b"0", "jpg": b"J0"}),
        ("k1", {"cls": b"1", "jpg": b""}),
        ("k2", {"cls": b"2", "jpg": b"J2"}),
    ]


def test_multishard_stream(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "img/0.tar", tar_of({f"{k}.jpg": f"i{k}".encode() for k in "abc"}))
    cluster.put_object(bucket, "img/1.tar", tar_of({"d.jpg": b"id"}))
    cluster.put_object(bucket, "lbl/0.tar", tar_of({f"{k}.cls": f"l{k}".encode() for k in "abcd"}))
    cluster.put_object(bucket, "lbl/1.tar", tar_of({"e.cls": b"le"}))  # no partner: zip stops
    shards = [
        DataShard(client_url=cluster.endpoint, bucket_name=bucket, prefix=prefix)
        for prefix in ("img/", "lbl/")
    ]

    stream = mod(impl, "multishard_dataset").AISMultiShardStream(data_sources=shards)

    assert iterate(stream) == [(f"i{k}".encode(), f"l{k}".encode()) for k in "abcd"]


@pytest.mark.parametrize("group", [False, True], ids=["bucket", "object-group"])
def test_batch_iter_dataset_with_an_sdk_client(
    impl: ModuleType, cluster: LocalCluster, bucket: str, group: bool
) -> None:
    objects = put(cluster, bucket, [f"o/{i}" for i in range(7)])
    client = Client(cluster.endpoint)
    bck = client.bucket(bucket)
    source = bck.objects(obj_names=["o/5", "o/0", "o/3"]) if group else bck

    dataset = mod(impl, "batch_iter_dataset").AISBatchIterDataset(source, client, max_batch_size=2)

    names = ["o/5", "o/0", "o/3"] if group else list(objects)
    assert iterate(dataset) == [(n, objects[n]) for n in names]


def test_parallel_map_dataset(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    objects = put(cluster, bucket, ["p/0", "p/1", "q/0"])
    bck = Client(cluster.endpoint).bucket(bucket)

    dataset = mod(impl, "parallel_map_dataset").AISParallelMapDataset(
        [bck], prefix_map={bck: "p/"}, num_workers=3
    )
    got = [dataset[i] for i in range(len(dataset))]

    assert dataset.num_workers == 3
    assert [(name, as_bytes(data)) for name, data in got] == [
        (n, objects[n]) for n in ("p/0", "p/1")
    ]


def _defined_names(module: ModuleType) -> list[str]:
    """Public names a module defines itself (not its imports, loggers or modules)."""
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType | logging.Logger)
        and getattr(value, "__module__", module.__name__) == module.__name__
    ]


@pytest.mark.parametrize("name", MODULES)
def test_module_path_has_the_plugins_names(name: str) -> None:
    plugin = __import__(f"{PLUGIN}.{name}", fromlist=["_"])
    ours = __import__(f"{OURS}.{name}", fromlist=["_"])

    assert _defined_names(plugin), "the plugin module defines nothing: wrong module?"
    assert [n for n in _defined_names(plugin) if not hasattr(ours, n)] == []


_HIERARCHY = [
    ("iter_dataset", "AISIterDataset", "base_iter_dataset", "AISBaseIterDataset"),
    ("map_dataset", "AISMapDataset", "base_map_dataset", "AISBaseMapDataset"),
    ("parallel_map_dataset", "AISParallelMapDataset", "base_map_dataset", "AISBaseMapDataset"),
    ("shard_reader", "AISShardReader", "base_iter_dataset", "AISBaseIterDataset"),
    ("batch_iter_dataset", "AISBatchIterDataset", "base_iter_dataset", "AISBaseIterDataset"),
]


@pytest.mark.parametrize(("module", "name", "base_module", "base"), _HIERARCHY)
def test_class_hierarchy_is_the_plugins(
    module: str, name: str, base_module: str, base: str
) -> None:
    for package in (PLUGIN, OURS):
        cls = getattr(__import__(f"{package}.{module}", fromlist=["_"]), name)
        parent = getattr(__import__(f"{package}.{base_module}", fromlist=["_"]), base)
        assert issubclass(cls, parent), f"{package}: {name} is not a {base}"


def test_utils(impl: ModuleType) -> None:
    utils = mod(impl, "utils")

    assert utils.MB_TO_B == 1_000_000
    assert utils.convert_mb_to_bytes(2.5) == 2_500_000
    assert utils.convert_mb_to_bytes(1.0000001) == 1_000_000
    assert utils.convert_bytes_to_mb(1_500) == 0.0015
    assert utils.unparse_url("ais", "b", "dir/o.tar") == "ais://b/dir/o.tar"
    assert utils.unparse_url("gcp", "b", "") == "gcp://b"
    assert utils.get_basename("dir/sample.seg.png") == "sample"
    assert utils.get_extension("dir/sample.seg.png") == "png"
    assert utils.get_extension("dir.d/README") == ""
    assert utils.parse_url("ais://b/dir/o") == ("ais", "b", "dir/o")
    assert utils.parse_url("ais://b") == ("ais", "b", "")
    assert utils.parse_url("gcp://b/x/") == ("gcp", "b", "x/")
