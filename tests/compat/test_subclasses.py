"""Scenario 3: subclasses written for the plugin (overriding ``__getitem__``, ``__iter__``, the
listing hooks) behave the same on aisloader's base classes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from _shared import load
from aistore.sdk import Client

import aisloader.torch
from aisloader.server import LocalCluster

from .subclasses import DigestIter, ObjListItem, OddOnly, UpperItem, subclass
from .util import impl_params, iterate, put


def test_map_subclass_overriding_getitem(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    objects = put(cluster, bucket, [f"s/{i}" for i in range(8)])
    dataset = subclass(impl, UpperItem)(Client(cluster.endpoint).bucket(bucket))

    direct = dataset[2]
    loaded = load(dataset, batch_size=3)  # the DataLoader's __getitems__ path

    pid = os.getpid()
    assert direct == ("s/2", objects["s/2"].upper(), pid)
    assert loaded == [(name, data.upper(), pid) for name, data in objects.items()]
    assert dataset.calls == [2, *range(8)]  # once per index, in the sampler's order


def test_base_map_subclass_over_obj_list(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    objects = put(cluster, bucket, ["b/0", "b/1", "c/0"])
    bck = Client(cluster.endpoint).bucket(bucket)
    dataset = subclass(impl, ObjListItem)([bck], prefix_map={bck: "b/"})

    assert len(dataset) == 2
    assert load(dataset, batch_size=2) == [
        (name, len(objects[name]), len(objects[name]), objects[name]) for name in ("b/0", "b/1")
    ]


def test_iter_subclass_overriding_iter(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    objects = put(cluster, bucket, [f"i/{i}" for i in range(5)])
    bck = Client(cluster.endpoint).bucket(bucket)
    dataset = subclass(impl, DigestIter)(bck, prefix_map={bck: ["i/3", "i/1"]})

    pid = os.getpid()
    expected = [
        (name, hashlib.md5(objects[name], usedforsecurity=False).hexdigest(), pid)
        for name in ("i/3", "i/1")
    ]
    assert iterate(dataset) == expected
    assert load(dataset, batch_size=2) == expected


def test_iter_subclass_overriding_the_listing_hook(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    objects = put(cluster, bucket, [f"n{i}" for i in range(6)])
    dataset = subclass(impl, OddOnly)(Client(cluster.endpoint).bucket(bucket))

    assert iterate(dataset) == [(name, objects[name]) for name in ("n1", "n3", "n5")]


@pytest.mark.parametrize(
    "impl",
    impl_params(),
    indirect=True,
)
def test_map_subclass_overriding_the_listing_hook(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    objects = put(cluster, bucket, [f"m{i}" for i in range(4)])

    class EvenOnly(impl.AISMapDataset):  # type: ignore[misc, name-defined]
        def _create_objects_list(self) -> list[Any]:
            return [o for o in super()._create_objects_list() if int(o.name[-1]) % 2 == 0]

    dataset = EvenOnly(Client(cluster.endpoint).bucket(bucket))

    assert [dataset[i] for i in range(len(dataset))] == [(n, objects[n]) for n in ("m0", "m2")]


def test_iter_dataset_plugin_attributes(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    """What subclasses read: ``_ais_source_list``, ``_prefix_map`` and, after
    ``_reset_iterator()``, ``_obj_iterator`` (the objects, as readable handles)."""
    objects = put(cluster, bucket, ["a/0", "a/1", "b/0"])
    bck = Client(cluster.endpoint).bucket(bucket)
    prefix_map: dict[Any, Any] = {bck: ["b/", "a/1"]}

    dataset = impl.AISIterDataset(bck, prefix_map=prefix_map)
    dataset._reset_iterator()

    assert dataset._ais_source_list == [bck]
    assert dataset._ais_source_list[0] is bck
    assert dataset._prefix_map == prefix_map
    assert [(o.name, o.get_reader().read_all()) for o in dataset._obj_iterator] == [
        (name, objects[name]) for name in ("b/0", "a/1")
    ]


class _SkipSecond(aisloader.torch.AISIterDataset):
    """The older plugin hook (``aistore`` < 2.0): objects of one source under one prefix."""

    def _get_sample_iter_from_source(self, source: Any, prefix: str) -> Iterator[Any]:
        for i, obj in enumerate(super()._get_sample_iter_from_source(source, prefix)):
            if i != 1:
                yield obj


def test_get_sample_iter_from_source_hook(cluster: LocalCluster, bucket: str) -> None:
    """aisloader only: the 2.0 plugin no longer has this hook."""
    objects = put(cluster, bucket, ["a/0", "a/1", "a/2", "b/0", "b/1"])
    bck = Client(cluster.endpoint).bucket(bucket)

    dataset = _SkipSecond(bck, prefix_map={bck: ["b/", "a/"]})

    assert iterate(dataset) == [(name, objects[name]) for name in ("b/0", "a/0", "a/2")]
