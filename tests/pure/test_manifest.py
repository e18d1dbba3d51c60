"""The compact manifest: round trips, pickling, save/load."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from aisloader.core.listing.manifest import Manifest, ManifestBuilder
from aisloader.refs import Bucket, ObjectRef


def _build() -> Manifest:
    b = ManifestBuilder()
    one, two = Bucket("one"), Bucket("two", "s3")
    b.add(one, "a/x.jpg", 10)
    b.add(two, "ünïcode name", 0)
    b.add(one, "z", -1)
    return b.build()


def test_lookup_and_refs() -> None:
    m = _build()
    assert len(m) == 3
    assert m.name(1) == "ünïcode name"
    assert m.ref(1) == ObjectRef(Bucket("two", "aws"), "ünïcode name")
    assert m.ref(-1).name == "z"
    assert [r.name for r in m] == ["a/x.jpg", "ünïcode name", "z"]
    assert m.size(0) == 10
    assert m.total_bytes == 10
    with pytest.raises(IndexError):
        m.ref(3)


def test_pickle_and_save_load(tmp_path: Path) -> None:
    m = _build()
    again = pickle.loads(pickle.dumps(m))
    assert list(again) == list(m)
    m.save(tmp_path / "m.idx")
    loaded = Manifest.load(tmp_path / "m.idx")
    assert list(loaded) == list(m)
    assert [loaded.size(i) for i in range(3)] == [10, 0, -1]
    (tmp_path / "bad").write_bytes(b"nope")
    with pytest.raises(ValueError, match="not an aisloader manifest"):
        Manifest.load(tmp_path / "bad")


def test_pickle_is_compact() -> None:
    b = ManifestBuilder()
    bucket = Bucket("big")
    for i in range(50_000):
        b.add(bucket, f"train/{i:08d}.jpg", 1000)
    blob = pickle.dumps(b.build())
    assert len(blob) < 50_000 * 40  # ~20 bytes of name + 20 of offsets/sizes/ids per entry
