"""Grouping parity: our keys, meta rules and samples equal webdataset's on the same shards."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import webdataset as wds
from _shared import until_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webdataset.tariterators import (
    base_plus_ext,
    group_by_keys,
    tar_file_expander,
    tar_file_iterator,
)

from aisloader.core.tar.samples import group_samples, is_meta, split_key

from .gen import Spec, build, parse

URL = "ais://b/shard-000.tar"
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRICKY = st.text(alphabet=st.sampled_from("a_./\nB"), min_size=1, max_size=10)


@settings(max_examples=400, deadline=None)
@given(name=st.one_of(TRICKY, st.text(max_size=12)))
def test_split_key_equals_base_plus_ext(name: str) -> None:
    key, ext = base_plus_ext(name)
    expected = ("", "") if key is None else (key, ext.lower())
    assert split_key(name) == expected


def test_split_key_examples() -> None:
    assert split_key("d/a.seg.PNG") == ("d/a", "seg.png")
    assert split_key("a.b/c.d") == ("a.b/c", "d")
    assert split_key("noext") == ("", "")
    assert split_key("d/.hidden.txt") == ("d/", "hidden.txt")  # webdataset's own quirk


def wds_samples(blob: bytes) -> tuple[list[Any], bool]:
    src = [{"url": URL, "stream": io.BytesIO(blob)}]
    return until_error(lambda: (s for s in group_by_keys(tar_file_expander(src))))


def our_samples(blob: bytes) -> tuple[list[Any], bool]:
    return until_error(lambda: (s for s in group_samples(parse(blob), url=URL)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(TRICKY, min_size=1, max_size=6))
def test_meta_and_skip_rules_equal_webdataset(names: list[str]) -> None:
    blob = build([Spec(n, size=1) for n in names], tarfile.PAX_FORMAT)
    theirs = [s["fname"] for s in tar_file_iterator(io.BytesIO(blob))]
    ours = [m.name for m in parse(blob) if m.is_file and not is_meta(m.name)]
    assert ours == theirs


KEYS = st.sampled_from(["a", "b", "dir/a", "dir/sub/c", "x" * 120, "ü/é", "n.1"[:1]])
EXTS = st.sampled_from(["jpg", "JPG", "cls", "seg.png", "txt", "Json", "tar.gz", ""])
NOISE = st.sampled_from(
    [
        Spec("__meta__", size=3),
        Spec("__keys__/a.txt", size=1),
        Spec("dir", "dir"),
        Spec("noext", size=2),
        Spec("l.lnk", "symlink", link="a.jpg"),
        Spec("__x__y.txt", size=1),
    ]
)


@st.composite
def sample_shards(draw: st.DrawFn) -> bytes:
    specs: list[Spec] = []
    for _ in range(draw(st.integers(0, 6))):
        key = draw(KEYS)
        exts = draw(st.lists(EXTS, min_size=1, max_size=4, unique_by=str.lower))
        if draw(st.integers(0, 7)) == 0:
            exts.append(exts[0].upper())  # a duplicate extension: webdataset raises
        for ext in exts:
            specs.append(Spec(f"{key}.{ext}" if ext else key + ".", size=draw(st.integers(0, 40))))
            specs[-1].seed = draw(st.integers(0, 1000))
        if draw(st.integers(0, 3)) == 0:
            specs.append(draw(NOISE))
    return build(specs, draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])))


@SETTINGS
@given(blob=sample_shards())
def test_samples_equal_webdataset(blob: bytes) -> None:
    """Same samples, and an error (duplicate extension) at the same point."""
    assert our_samples(blob) == wds_samples(blob)


def test_webdataset_pipeline_on_a_local_file(tmp_path: Path) -> None:
    specs = [Spec(f"s{i}/k.{e}", size=i, seed=i) for i in range(5) for e in ("jpg", "CLS")]
    blob = build([*specs, Spec("__meta__", size=1)])
    path = tmp_path / "shard.tar"
    path.write_bytes(blob)
    theirs = [
        {k: v for k, v in s.items() if k != "__local_path__"}
        for s in wds.WebDataset(str(path), shardshuffle=False)
    ]
    assert list(group_samples(parse(blob), url=str(path))) == theirs
    assert len(theirs) == 5
