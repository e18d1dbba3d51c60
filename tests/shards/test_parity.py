"""End-to-end parity: samples read from the cluster equal what ``webdataset`` yields.

Each shard is stored on the embedded cluster and read back through ``ShardStream`` (async) and
``AISShardReader`` (sync, both sample forms); ``webdataset.WebDataset`` reads the same bytes
from a local file. Shards cover directories, multi-dot names, upper-case extensions, long
(GNU/PAX) names, PAX headers, empty members, meta entries, links and gzip.
"""

from __future__ import annotations

import asyncio
import tarfile
from pathlib import Path

import pytest
from _shared import FAST, until_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tar.gen import FORMATS, Spec, build, specs

from aisloader.core.client import AsyncClient
from aisloader.core.streams.shards import ShardStream
from aisloader.core.tar.samples import to_plugin_form
from aisloader.server import LocalCluster
from aisloader.torch import AISShardReader

from .util import Sample, gz, webdataset_samples

LONG = "L" * 130
TRICKY = [
    Spec("dir", "dir"),
    Spec("dir/a.jpg", size=700, seed=1),
    Spec("dir/a.CLS", size=3, seed=2),
    Spec("dir/a.seg.PNG", size=0),
    Spec("b.tar.gz", size=5, seed=3),
    Spec("b.Json", size=1, seed=4),
    Spec("__meta__", size=9),
    Spec("__keys__/x.txt", size=1),
    Spec("noext", size=2),
    Spec(f"{LONG}/{LONG}.jpg", size=513, seed=5),
    Spec(f"{LONG}/{LONG}.txt", size=0),
    Spec("p.jpg", size=10, seed=6, pax={"comment": "pax header", "aisloader.x": "1"}),
    Spec("p.txt", size=1, seed=7),
    Spec("ln.jpg", "symlink", link="p.jpg"),
    Spec("q.r.s.t", size=2, seed=8),
    Spec("d.1/e.f.g", size=3, seed=9),
    Spec("ü/é.jpg", size=4, seed=10),
]


def _read_stream(endpoint: str, bucket: str, prefix: str) -> list[Sample]:
    async def go() -> list[Sample]:
        async with AsyncClient(endpoint, config=FAST) as client:
            stream = ShardStream(f"ais://{bucket}/{prefix}", client=client)
            return [s async for s in stream]

    return asyncio.run(go())


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tgz"])
def test_tricky_shard_equals_webdataset(
    cluster: LocalCluster, bucket: str, tmp_path: Path, fmt: int, suffix: str
) -> None:
    blob = build(TRICKY, fmt, global_pax={"g": "1"} if fmt == tarfile.PAX_FORMAT else None)
    if suffix != ".tar":
        blob = gz(blob)
    name = f"set/shard{suffix}"
    cluster.put_object(bucket, name, blob)
    theirs = webdataset_samples(blob, f"ais://{bucket}/{name}", tmp_path)
    assert len(theirs) >= 5  # the shard is not degenerate
    assert _read_stream(cluster.endpoint, bucket, "set/") == theirs
    reader = AISShardReader(
        f"ais://{bucket}/set/", endpoint=cluster.endpoint, config=FAST, sample_format="dict"
    )
    assert list(reader) == theirs
    plugin = AISShardReader(f"ais://{bucket}/set/", endpoint=cluster.endpoint, config=FAST)
    seen = {ext for s in theirs for ext in to_plugin_form(s)[1]}  # one shard: all of them
    padded = [(k, {**dict.fromkeys(seen, b""), **v}) for k, v in map(to_plugin_form, theirs)]
    assert list(plugin) == padded  # the plugin's ZeroDict: every extension, b"" if absent


def test_plugin_form_shape(cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "s.tar", build([Spec("d/a.jpg", size=1), Spec("d/a.cls", size=2)]))
    reader = AISShardReader(f"ais://{bucket}", endpoint=cluster.endpoint, config=FAST)
    [(basename, parts)] = list(reader)
    assert basename == "a"
    assert sorted(parts) == ["cls", "jpg"]
    assert len(parts["cls"]) == 2


KEYS = st.sampled_from(["a", "b", "dir/a", "x" * 120, "ü/é", "n.1", "c/d.e/f"])
EXTS = st.sampled_from(["jpg", "JPG", "cls", "seg.png", "txt", "Json", "tar.gz", ""])


@st.composite
def sample_specs(draw: st.DrawFn) -> list[Spec]:
    """Runs of members per key (sometimes a duplicate extension), plus random members."""
    out: list[Spec] = []
    for _ in range(draw(st.integers(0, 5))):
        key = draw(KEYS)
        exts = draw(st.lists(EXTS, min_size=1, max_size=3, unique_by=str.lower))
        if draw(st.integers(0, 9)) == 0:
            exts.append(exts[0].upper())
        out += [Spec(f"{key}.{e}", size=draw(st.integers(0, 700)), seed=len(out)) for e in exts]
    fmt = draw(st.sampled_from(FORMATS))
    return out + draw(specs(fmt)) if draw(st.booleans()) else out


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(members=sample_specs(), fmt=st.sampled_from(FORMATS), zipped=st.booleans())
def test_random_shards_equal_webdataset(
    cluster: LocalCluster,
    tmp_path_factory: pytest.TempPathFactory,
    members: list[Spec],
    fmt: int,
    zipped: bool,
) -> None:
    """Same samples, and an error (duplicate extension) where webdataset raises too."""
    blob = build(members, fmt)
    blob = gz(blob) if zipped else blob
    bucket, name = "parity", "r/shard.tgz" if zipped else "r/shard.tar"
    cluster.put_object(bucket, name, blob)
    try:
        tmp = tmp_path_factory.mktemp("wds")
        theirs = until_error(lambda: webdataset_samples(blob, f"ais://{bucket}/{name}", tmp))
        ours = until_error(lambda: _read_stream(cluster.endpoint, bucket, "r/"))
    finally:
        asyncio.run(_delete(cluster.endpoint, bucket, name))
    if theirs[1]:  # webdataset stops at the duplicate; we raise before yielding the sample
        assert ours[1]
        return
    assert ours == theirs


async def _delete(endpoint: str, bucket: str, name: str) -> None:
    async with AsyncClient(endpoint, config=FAST) as client:
        await client.delete((bucket, name))
