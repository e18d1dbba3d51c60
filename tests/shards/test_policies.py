"""Every error policy of the shard stream, corrupt shards, and network faults being retried."""

from __future__ import annotations

import logging
import random
import tarfile

import pytest
from _shared import FAST, tar_of

from aisloader.core.client import AsyncClient
from aisloader.core.streams.shards import ShardOptions, ShardStream
from aisloader.errors import (
    BucketNotFound,
    ConfigError,
    IncompleteRead,
    SampleError,
    ShardFormatError,
    TransportError,
)
from aisloader.server import LocalCluster
from aisloader.server.faults import Fault
from aisloader.torch import AISShardReader

from .util import Sample, gz, ids, put_regular, regular_shard


async def _read(
    client: AsyncClient, url: str, **options: object
) -> tuple[list[Sample], ShardStream]:
    stream = ShardStream(url, client=client, options=ShardOptions(**options))  # type: ignore[arg-type]
    return [s async for s in stream], stream


async def test_other_objects_skip_and_error(
    cluster: LocalCluster, bucket: str, client: AsyncClient
) -> None:
    expected = put_regular(cluster, bucket, 2, 3)
    cluster.put_object(bucket, "train/readme.txt", b"hello")
    cluster.put_object(bucket, "train/data.zip", b"PK")
    out, stream = await _read(client, f"ais://{bucket}/train/")
    assert set(ids(out)) == expected
    assert stream.stats.skipped_objects == [
        f"ais://{bucket}/train/data.zip",
        f"ais://{bucket}/train/readme.txt",
    ]
    with pytest.raises(ConfigError, match=r"train/data\.zip is not a \.tar"):
        await _read(client, f"ais://{bucket}/train/", other_objects="error")
    reader = AISShardReader(
        f"ais://{bucket}/train/",
        endpoint=cluster.endpoint,
        config=FAST,
        other_objects="error",
        sample_format="dict",
    )
    with pytest.raises(ConfigError, match=r"train/data\.zip"):
        list(reader)


async def test_nothing_to_read(cluster: LocalCluster, bucket: str, client: AsyncClient) -> None:
    cluster.put_object(bucket, "x/readme.txt", b"hello")
    with pytest.raises(ConfigError, match="shards"):
        await _read(client, f"ais://{bucket}/x/")
    with pytest.raises(BucketNotFound):
        await _read(client, "ais://no-such-bucket-h6/")


def test_bad_policies_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="on_corrupt"):
        ShardOptions(on_corrupt="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="missing"):
        ShardOptions(missing="pad")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="expected"):
        ShardOptions(expected="jpg")
    with pytest.raises(ConfigError, match="expected"):
        AISShardReader("ais://b", endpoint="http://127.0.0.1:1", expected="jpg")
    with pytest.raises(ConfigError, match="shuffle_buffer"):
        ShardOptions(shuffle_buffer=-1)


def _corrupt(blob: bytes, offset: int) -> bytes:
    """``blob`` with a byte of the name field at ``offset`` changed (bad header checksum)."""
    return blob[:offset] + b"Z" + blob[offset + 1 :]


# ustar, tiny members: every member is a 512-byte header plus one 512-byte data block.
GOOD = tar_of(
    [(f"s{k}.{e}", b"%d" % k) for k in range(4) for e in ("jpg", "cls")], fmt=tarfile.USTAR_FORMAT
)
CASES = {
    "bad header checksum": (_corrupt(GOOD, 5 * 1024), 5 * 1024, "checksum"),
    "cut inside a member": (GOOD[: 3 * 1024 + 700], 3 * 1024, "truncated"),
    "cut on a block boundary": (GOOD[: 6 * 1024], 6 * 1024, "end-of-archive"),
    "garbage": (b"not a tar at all" * 40, 0, ""),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_corrupt_shard_names_shard_and_offset(
    cluster: LocalCluster, bucket: str, client: AsyncClient, case: str
) -> None:
    blob, offset, reason = CASES[case]
    cluster.put_object(bucket, "c/bad.tar", blob)
    with pytest.raises(ShardFormatError) as info:
        await _read(client, f"ais://{bucket}/c/")
    assert info.value.shard == f"ais://{bucket}/c/bad.tar"
    assert info.value.offset == offset
    assert reason in info.value.reason
    assert f"ais://{bucket}/c/bad.tar" in str(info.value)


async def test_corrupt_gzip(cluster: LocalCluster, bucket: str, client: AsyncClient) -> None:
    blob = gz(regular_shard(0, 50))
    cluster.put_object(bucket, "g/bad.tgz", blob[: len(blob) // 2] + b"\xff" * 64)
    with pytest.raises(ShardFormatError, match=r"ais://.*/g/bad\.tgz"):
        await _read(client, f"ais://{bucket}/g/")


async def test_on_corrupt_skip(
    cluster: LocalCluster, bucket: str, client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    good = put_regular(cluster, bucket, 3, 4)
    cluster.put_object(bucket, "train/shard-bad.tar", _corrupt(GOOD, 5 * 1024))
    bad_url = f"ais://{bucket}/train/shard-bad.tar"
    out, stream = await _read(client, f"ais://{bucket}/train/", on_corrupt="skip")
    got = ids(out)
    assert good <= set(got)
    # Samples completed before the corrupt header were already delivered: s0 and s1 only.
    assert sorted(set(got) - good) == [(bad_url, "s0"), (bad_url, "s1")]
    assert stream.stats.corrupt_shards == [bad_url]
    reader = AISShardReader(
        f"ais://{bucket}/train/",
        endpoint=cluster.endpoint,
        config=FAST,
        on_corrupt="skip",
        sample_format="dict",
    )
    with caplog.at_level(logging.WARNING, logger="aisloader.shards"):
        assert sorted(ids(reader)) == sorted(got)
    assert any(bad_url in r.getMessage() and "5120" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", ["truncate", "reset"])
@pytest.mark.parametrize("suffix", [".tar", ".tgz"])
async def test_network_cut_is_retried_not_corrupt(
    cluster: LocalCluster, bucket: str, client: AsyncClient, kind: str, suffix: str
) -> None:
    """A body cut by the network is re-read (with a Range), never reported as a bad shard."""
    rng = random.Random(5)  # 3 KiB incompressible members: the cut lands inside member data
    for s in range(4):
        blob = tar_of((f"{s}-{k:03d}.{e}", rng.randbytes(3072)) for k in range(60) for e in "ab")
        cluster.put_object(bucket, f"n/{s}{suffix}", gz(blob) if suffix == ".tgz" else blob)
    clean, _ = await _read(client, f"ais://{bucket}/n/", deterministic=True)
    assert len(clean) == 240
    before = cluster.stats().get(f"faults.{kind}", 0)
    cluster.set_faults([Fault(kind=kind, every=2, hop="target")])  # type: ignore[arg-type]
    faulty, stream = await _read(
        client, f"ais://{bucket}/n/", on_corrupt="skip", deterministic=True
    )
    assert cluster.stats()[f"faults.{kind}"] - before >= 2
    assert faulty == clean
    assert stream.stats.corrupt_shards == []


async def test_network_cut_beyond_the_budget_is_not_a_shard_error(
    cluster: LocalCluster, bucket: str
) -> None:
    put_regular(cluster, bucket, 1, 200)
    cluster.set_faults([Fault(kind="truncate", fraction=1.0, hop="target")])
    config = FAST.replace(retry_attempts=3)
    async with AsyncClient(cluster.endpoint, config=config) as client:
        with pytest.raises((IncompleteRead, TransportError)) as info:
            await _read(client, f"ais://{bucket}/train/", on_corrupt="skip")
    assert not isinstance(info.value, ShardFormatError)


DUP = tar_of([("a.jpg", b"1"), ("a.JPG", b"2"), ("b.jpg", b"3"), ("b.cls", b"4")])
PARTIAL = tar_of([("a.jpg", b"1"), ("a.cls", b"2"), ("b.jpg", b"3"), ("c.cls", b"4")])


async def test_on_duplicate(cluster: LocalCluster, bucket: str, client: AsyncClient) -> None:
    cluster.put_object(bucket, "d/s.tar", DUP)
    url = f"ais://{bucket}/d/"
    with pytest.raises(SampleError, match="'jpg' twice"):
        await _read(client, url)
    out, _ = await _read(client, url, on_duplicate="skip")
    assert out == [{"__key__": "b", "__url__": f"{url}s.tar", "jpg": b"3", "cls": b"4"}]
    reader = AISShardReader(url, endpoint=cluster.endpoint, config=FAST, sample_format="dict")
    with pytest.raises(SampleError, match="twice"):  # typed across the sync bridge
        list(reader)


async def test_missing(cluster: LocalCluster, bucket: str, client: AsyncClient) -> None:
    cluster.put_object(bucket, "m/s.tar", PARTIAL)
    url, want = f"ais://{bucket}/m/", {"jpg", "CLS"}
    with pytest.raises(SampleError, match="lacks"):
        await _read(client, url, expected=want)
    out, _ = await _read(client, url, expected=want, missing="skip")
    assert [s["__key__"] for s in out] == ["a"]
    out, _ = await _read(client, url, expected=want, missing="empty")
    assert [(s["jpg"], s["cls"]) for s in out] == [(b"1", b"2"), (b"3", b""), (b"", b"4")]
    out, _ = await _read(client, url)  # no expectation: samples as they are
    assert [sorted(s) for s in out][1:] == [
        ["__key__", "__url__", "jpg"],
        ["__key__", "__url__", "cls"],
    ]
    reader = AISShardReader(
        url, endpoint=cluster.endpoint, config=FAST, expected=want, sample_format="dict"
    )
    with pytest.raises(SampleError, match="lacks"):
        list(reader)
    reader = AISShardReader(
        url,
        endpoint=cluster.endpoint,
        config=FAST,
        expected=want,
        missing="empty",
        sample_format="dict",
    )
    assert [s["cls"] for s in reader] == [b"2", b"", b"4"]
