"""Source normalisation (pure) and manifest building over a fake lister."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from aisloader.core.listing.lister import build_manifest
from aisloader.core.listing.sources import ObjectList, Source, sources
from aisloader.errors import ConfigError
from aisloader.refs import Bucket


def test_normalise_every_kind() -> None:
    srcs = sources(["ais://a/train/", Bucket("b"), ObjectList("c", ["x", "y"])])
    assert srcs == (
        Source(Bucket("a"), ("train/",)),
        Source(Bucket("b"), ("",)),
        Source(Bucket("c"), names=("x", "y")),
    )
    b = Bucket("b")
    assert sources(b, {b: ["p1/", "p2/"]}) == (Source(b, ("p1/", "p2/")),)
    assert sources("ais://a/t/", {"ais://a/t/": "cats/"}) == (Source(Bucket("a"), ("t/cats/",)),)


def test_sdk_objects_are_accepted() -> None:
    from aistore.sdk import Client

    client = Client("http://127.0.0.1:1")  # no request is made
    bck = client.bucket("imgs")
    group = bck.objects(obj_names=["a", "b"])
    assert sources([bck, group], {bck: "train/"}) == (
        Source(Bucket("imgs"), ("train/",)),
        Source(Bucket("imgs"), names=("a", "b")),
    )


@pytest.mark.parametrize("bad", [[], None, "not-a-url", 42, ObjectList("c", [])])
def test_bad_sources_are_config_errors(bad: Any) -> None:
    with pytest.raises(ConfigError):
        sources(bad)


@dataclass
class _E:
    name: str
    size: int


class _Lister:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.calls: list[tuple[str, str]] = []

    async def list_objects(
        self, bucket: Bucket, prefix: str = "", *, props: str = "", page_size: int | None = None
    ) -> AsyncIterator[_E]:
        self.calls.append((bucket.name, prefix))
        for n in self.names:
            if n.startswith(prefix):
                yield _E(n, len(n))


async def test_build_manifest_and_empty_is_an_error() -> None:
    lister = _Lister(["a/1", "a/2", "b/1"])
    m = await build_manifest(lister, sources("ais://bk/a/"))
    assert [r.name for r in m] == ["a/1", "a/2"]
    assert m.size(0) == 3
    with pytest.raises(ConfigError, match=r"ais://bk/zzz"):
        await build_manifest(lister, sources("ais://bk/zzz"))
