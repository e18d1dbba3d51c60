"""AsyncClient.get_batch against the embedded cluster: every entry kind, both modes, every
format, byte-exact; missing items under both policies; the soft-error limit; early exit."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _shared import blob, put_objects, tar_of

from aisloader.core.batch.entry import BatchEntry, BatchValue
from aisloader.core.client import AsyncClient
from aisloader.errors import ConfigError, ObjectNotFound
from aisloader.refs import Bucket, ObjectRef
from aisloader.server import LocalCluster

from .util import MEMBERS, as_bytes, zip_of

B, B2 = "gb-kinds", "gb-other"
RANGED = bytes(range(256)) * 4
BIG = os.urandom((2 << 20) + 123)  # crosses the 1 MiB read chunks of client and server
FORMATS = [".tar", ".tgz", ".tar.gz", ".zip"]


def ref(name: str, bucket: str = B) -> ObjectRef:
    return ObjectRef(Bucket(bucket), name)


@pytest.fixture(scope="module")
def kinds(cluster: LocalCluster) -> list[tuple[BatchEntry, bytes | None]]:
    """Entries of every kind with their expected bytes (None = missing)."""
    cluster.put_object(B, "a", b"alpha")
    cluster.put_object(B, "empty", b"")
    cluster.put_object(B, "r.bin", RANGED)
    cluster.put_object(B, "big", BIG)
    cluster.put_object(B, "sh.tar", tar_of(MEMBERS))
    cluster.put_object(B, "sh.tgz", tar_of(MEMBERS, gz=True))
    cluster.put_object(B, "sh.zip", zip_of(MEMBERS))
    cluster.put_object(B2, "x/y", b"other bucket")
    s2 = MEMBERS["sub/s2.jpg"]
    return [
        (BatchEntry(ref("a")), b"alpha"),
        (BatchEntry(ref("empty")), b""),
        (BatchEntry(ref("r.bin"), start=10, length=20), RANGED[10:30]),
        (BatchEntry(ref("r.bin"), start=1000, length=-1), RANGED[1000:]),
        (BatchEntry(ref("sh.tar"), archpath="s1.jpg"), b"hello"),
        (BatchEntry(ref("sh.tgz"), archpath="sub/s2.jpg"), MEMBERS["sub/s2.jpg"]),
        (BatchEntry(ref("sh.zip"), archpath="/s1.cls"), b"1"),
        (BatchEntry(ref("sh.tar"), archpath="sub/s2.jpg", start=5, length=10), s2[5:15]),
        (BatchEntry(ref("x/y", B2)), b"other bucket"),
        (BatchEntry(ref("missing")), None),
        (BatchEntry(ref("big")), BIG),
        (BatchEntry(ref("sh.tar"), archpath="nope.jpg"), None),
        (BatchEntry(ref("a")), b"alpha"),
        (BatchEntry(ref("empty")), b""),
    ]


def _check(
    got: list[tuple[BatchEntry, BatchValue]], want: list[tuple[BatchEntry, bytes | None]]
) -> None:
    assert [e for e, _ in got] == [e for e, _ in want]
    for (entry, value), (_, expected) in zip(got, want, strict=True):
        if expected is None:
            assert isinstance(value, ObjectNotFound), entry
            assert value.status == 404
            assert entry.ref.name in str(value)
        else:
            assert isinstance(value, bytes), (entry, value)
            assert value == expected, entry


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("streaming", [True, False])
async def test_every_entry_kind_byte_exact(
    client: AsyncClient, kinds: list[tuple[BatchEntry, bytes | None]], fmt: str, streaming: bool
) -> None:
    entries = [e for e, _ in kinds]
    pairs = client.get_batch(entries, batch_size=5, output_format=fmt, streaming=streaming)  # type: ignore[arg-type]
    got = [p async for p in pairs]
    _check(got, kinds)
    assert client.batch_api_available
    assert client.stats.redirects == 3  # one get-batch request per chunk of 5


async def test_one_request_for_everything_and_urls(
    client: AsyncClient, kinds: list[tuple[BatchEntry, bytes | None]]
) -> None:
    urls: list[Any] = [f"ais://{B}/a", (B, "empty"), ref("x/y", B2), f"ais://{B}/missing"]
    got = [p async for p in client.get_batch(urls, batch_size=100)]
    assert as_bytes(got) == [b"alpha", b"", b"other bucket", "404"]
    assert got[2][0] == BatchEntry(ref("x/y", B2))
    assert client.stats.redirects == 1


async def test_async_iterable_input_and_default_batch_size(
    cluster: LocalCluster, bucket: str, client: AsyncClient
) -> None:
    names = list(put_objects(cluster, bucket, 150))

    async def gen() -> AsyncIterator[ObjectRef]:
        for name in names:
            yield ref(name, bucket)

    got = [p async for p in client.get_batch(gen())]
    assert as_bytes(got) == [blob(i) for i in range(150)]
    assert client.stats.redirects == 3  # config.batch_size is 64
    assert client.stats.bytes_received == sum(len(blob(i)) for i in range(150))


async def test_stop_on_error_raises_after_the_entries_before_it(
    client: AsyncClient, kinds: list[tuple[BatchEntry, bytes | None]]
) -> None:
    entries = [e for e, _ in kinds]
    seen: list[BatchValue] = []

    async def consume() -> None:
        async for _, value in client.get_batch(entries, batch_size=4, continue_on_error=False):
            seen.append(value)

    with pytest.raises(ObjectNotFound) as info:
        await consume()
    assert seen == [v for _, v in kinds[:9]]
    assert info.value.url == f"ais://{B}/missing"


@pytest.mark.parametrize("fmt", [".tar", ".zip"])
@pytest.mark.parametrize("streaming", [True, False])
async def test_more_missing_than_the_soft_error_limit(
    cluster: LocalCluster, bucket: str, client: AsyncClient, fmt: str, streaming: bool
) -> None:
    """The cluster gives up after 8 missing items per request (cut stream, or 400 when
    buffered); every entry still comes back right, in order."""
    names = list(put_objects(cluster, bucket, 12))
    entries: list[ObjectRef] = [ref(f"gone-{i}", bucket) for i in range(11)]  # 11 in a row
    want: list[bytes | str] = ["404"] * 11
    for i, name in enumerate(names):  # then present and missing interleaved
        entries += [ref(name, bucket), ref(f"lost-{i}", bucket)]
        want += [blob(i), "404"]
    pairs = client.get_batch(entries, batch_size=64, output_format=fmt, streaming=streaming)  # type: ignore[arg-type]
    got = [p async for p in pairs]
    assert as_bytes(got) == want
    assert [e.ref for e, _ in got] == entries
    assert client.stats.redirects >= 3  # the limit was hit: more than one request


async def test_all_empty_objects(cluster: LocalCluster, bucket: str, client: AsyncClient) -> None:
    for i in range(5):
        cluster.put_object(bucket, f"e{i}", b"")
    got = [p async for p in client.get_batch([ref(f"e{i}", bucket) for i in range(5)])]
    assert as_bytes(got) == [b""] * 5


async def test_early_exit_leaves_no_task_behind(
    cluster: LocalCluster, bucket: str, client: AsyncClient
) -> None:
    names = list(put_objects(cluster, bucket, 40))
    before = asyncio.all_tasks()
    pairs = client.get_batch([ref(n, bucket) for n in names], batch_size=4)
    async for _entry, value in pairs:
        assert value == blob(0)
        break
    await pairs.aclose()
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before
    again = [p async for p in client.get_batch([ref(n, bucket) for n in names[:3]])]
    assert as_bytes(again) == [blob(i) for i in range(3)]  # the connections are still usable


async def test_empty_input(client: AsyncClient) -> None:
    assert [p async for p in client.get_batch([])] == []
    assert client.stats.requests == 0


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [({"output_format": ".tar.lz4"}, "output_format"), ({"batch_size": -1}, "batch_size")],
)
async def test_bad_arguments(client: AsyncClient, kwargs: dict[str, object], text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        async for _ in client.get_batch([ref("a")], **kwargs):  # type: ignore[arg-type]
            pass


@pytest.mark.parametrize(
    ("start", "length"), [(-1, 5), (0, -2), (3, 0)], ids=["neg-start", "length", "start-only"]
)
def test_bad_ranges_are_refused_before_sending(start: int, length: int) -> None:
    with pytest.raises(ConfigError, match="range"):
        BatchEntry(ref("a"), start=start, length=length)


def test_entry_names_and_bad_refs() -> None:
    assert BatchEntry(ref("s.tar"), archpath="x/y").member_name == f"{B}/s.tar/x/y"
    assert BatchEntry(ref("s.tar"), archpath="/y").member_name == f"{B}/s.tar/y"
    assert BatchEntry.of(f"ais://{B}/a").uri == f"ais://{B}/a"
    assert BatchEntry(ref("s.tar"), archpath="y").uri == f"ais://{B}/s.tar?archpath=y"
    with pytest.raises(ConfigError, match="namespaced"):
        BatchEntry(ObjectRef(Bucket("b", namespace="@u#ns"), "o"))
    with pytest.raises(ConfigError):
        BatchEntry.of("not a url")
