"""Grouping policies (duplicate, missing, skips), stats, plugin form and the async form."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aisloader.core.tar.members import TarMember
from aisloader.core.tar.samples import SampleGrouper, agroup_samples, group_samples, to_plugin_form
from aisloader.errors import ConfigError, SampleError

URL = "ais://b/s.tar"


def files(*names: str, kind: str = "file") -> list[TarMember]:
    return [TarMember(n, len(n), n.encode(), kind, 512 * i) for i, n in enumerate(names)]  # type: ignore[arg-type]


SHARD = files("a.jpg", "a.cls", "b.jpg", "b.JPG", "b.cls", "c.jpg", "c.cls")


def keys(samples: list[dict[str, object]]) -> list[object]:
    return [s["__key__"] for s in samples]


def test_duplicate_error_names_url_key_and_extension() -> None:
    gen = group_samples(SHARD, url=URL)
    assert next(gen)["__key__"] == "a"
    with pytest.raises(SampleError, match=r"ais://b/s.tar: sample 'b' has extension 'jpg' twice"):
        next(gen)


def test_duplicate_skip_drops_the_whole_sample() -> None:
    grouper = SampleGrouper(url=URL, on_duplicate="skip")
    out = list(grouper.group(SHARD))
    assert keys(out) == ["a", "c"]
    assert out[1] == {"__key__": "c", "__url__": URL, "jpg": b"c.jpg", "cls": b"c.cls"}
    assert grouper.stats["duplicate"] == 1
    assert grouper.stats["samples"] == 2


MISSING = files("a.jpg", "a.cls", "b.jpg", "c.JPG", "c.CLS")


def test_missing_error() -> None:
    with pytest.raises(SampleError, match=r"sample 'b' lacks \['cls'\]"):
        list(group_samples(MISSING, url=URL, expected=["jpg", "CLS"]))


def test_missing_skip() -> None:
    grouper = SampleGrouper(url=URL, missing="skip", expected={"jpg", "cls"})
    assert keys(list(grouper.group(MISSING))) == ["a", "c"]
    assert grouper.stats["missing"] == 1


def test_missing_empty_pads() -> None:
    grouper = SampleGrouper(url=URL, missing="empty", expected=("jpg", "cls", "txt"))
    out = list(grouper.group(MISSING))
    assert [s["txt"] for s in out] == [b"", b"", b""]
    assert out[1]["cls"] == b""
    assert out[1]["jpg"] == b"b.jpg"
    assert grouper.stats["padded"] == 4


def test_no_expected_means_no_check() -> None:
    assert len(list(group_samples(MISSING, url=URL))) == 3


def test_meta_nonfiles_and_unkeyed_are_skipped_and_counted() -> None:
    members = [
        *files("__meta__", "__index__/a.json", "README", "a.jpg"),
        *files("a", "dir", kind="dir"),
        *files("a.lnk", kind="symlink"),
        *files("a.cls"),
    ]
    grouper = SampleGrouper(url=URL)
    out = list(grouper.group(members))
    assert out == [{"__key__": "a", "__url__": URL, "jpg": b"a.jpg", "cls": b"a.cls"}]
    assert grouper.stats == {
        "members": 8,
        "samples": 1,
        "skipped_nonfile": 3,
        "skipped_meta": 2,
        "skipped_nokey": 1,
        "duplicate": 0,
        "missing": 0,
        "padded": 0,
    }


def test_samples_are_runs_of_consecutive_keys() -> None:
    out = list(group_samples(files("a.jpg", "b.jpg", "a.cls"), url=URL))
    assert keys(out) == ["a", "b", "a"]


def test_directory_is_part_of_the_key() -> None:
    out = list(group_samples(files("x/a.jpg", "y/a.jpg", "y/a.seg.PNG"), url=URL))
    assert out[1] == {
        "__key__": "y/a",
        "__url__": URL,
        "jpg": b"y/a.jpg",
        "seg.png": b"y/a.seg.PNG",
    }


def test_plugin_form() -> None:
    (sample,) = group_samples(files("dir/sub/k1.jpg", "dir/sub/k1.seg.png"), url=URL)
    assert to_plugin_form(sample) == (
        "k1",
        {"jpg": b"dir/sub/k1.jpg", "seg.png": b"dir/sub/k1.seg.png"},
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"on_duplicate": "warn"}, {"missing": "pad"}, {"expected": "jpg"}],
)
def test_bad_policies(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SampleGrouper(url=URL, **kwargs)  # type: ignore[arg-type]


class Members:
    def __init__(self, members: list[TarMember]) -> None:
        self.members, self.closed = members, False

    async def gen(self) -> AsyncIterator[TarMember]:
        try:
            for m in self.members:
                yield m
        finally:
            self.closed = True


async def test_async_grouping_equals_sync_and_closes() -> None:
    src = Members(MISSING)
    out = [s async for s in agroup_samples(src.gen(), url=URL, missing="empty", expected=["cls"])]
    assert out == list(group_samples(MISSING, url=URL, missing="empty", expected=["cls"]))
    assert src.closed


async def test_async_early_close_closes_members() -> None:
    src = Members(SHARD)
    grouped = agroup_samples(src.gen(), url=URL)
    assert (await anext(grouped))["__key__"] == "a"
    await grouped.aclose()
    assert src.closed
