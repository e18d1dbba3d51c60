"""AsyncClient against the embedded cluster: every operation, bytes compared to what was put."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from _shared import FAST, tar_of

from aisloader.core.client import AsyncClient
from aisloader.core.http.wire import ARCH_DIR
from aisloader.errors import (
    BucketAlreadyExists,
    BucketNotFound,
    ConfigError,
    ObjectNotFound,
    RangeNotSatisfiable,
)
from aisloader.refs import Bucket, ObjectRef
from aisloader.server import LocalCluster


async def test_bucket_lifecycle(client: AsyncClient) -> None:
    b = await client.create_bucket("core-life")
    assert b == Bucket("core-life")
    with pytest.raises(BucketAlreadyExists, match="ais://core-life"):
        await client.create_bucket("ais://core-life")
    assert await client.create_bucket(b, exist_ok=True) == b
    assert b in await client.list_buckets()
    assert b in await client.list_buckets("ais")
    assert (await client.head_bucket(b))["provider"] == "ais"
    await client.destroy_bucket(b)
    with pytest.raises(BucketNotFound):
        await client.head_bucket(b)
    with pytest.raises(BucketNotFound, match="ais://core-life"):
        await client.destroy_bucket(b)
    await client.destroy_bucket(b, missing_ok=True)
    with pytest.raises(ConfigError):
        await client.create_bucket("ais://x/y")
    with pytest.raises(ConfigError):
        await client.list_buckets("nope")


async def test_put_get_head_delete(client: AsyncClient, bucket: str) -> None:
    name = "dir/a b+c%~.bin"
    data = bytes(range(256)) * 100
    props = await client.put((bucket, name), data)
    assert props.checksum_type == "xxhash"
    assert props.size == len(data)
    assert await client.get(f"ais://{bucket}/{name}") == data
    assert await client.get(ObjectRef(Bucket(bucket), name), byte_range=(10, 20)) == data[10:20]
    assert await client.get((bucket, name), byte_range=(25590, None)) == data[25590:]
    assert await client.get((bucket, name), byte_range="bytes=-5") == data[-5:]
    head = await client.head((bucket, name))
    assert (head.size, head.checksum_value, head.present) == (len(data), props.checksum_value, True)
    with pytest.raises(RangeNotSatisfiable):
        await client.get((bucket, name), byte_range=(10**6, None))
    await client.delete((bucket, name))
    with pytest.raises(ObjectNotFound, match=f"ais://{bucket}/dir/a b"):
        await client.get((bucket, name))
    with pytest.raises(ObjectNotFound, match=f"ais://{bucket}/dir/a b"):
        await client.head((bucket, name))
    with pytest.raises(ObjectNotFound):
        await client.delete((bucket, name))
    await client.delete((bucket, name), missing_ok=True)


async def test_not_found_names(client: AsyncClient) -> None:
    with pytest.raises(BucketNotFound, match="ais://no-such-bucket"):
        await client.get(("no-such-bucket", "o"))
    with pytest.raises(ConfigError):
        await client.get("ais://only-bucket")


async def test_put_file_and_async_iterable(
    client: AsyncClient, bucket: str, tmp_path: object
) -> None:
    data = b"0123456789" * 30_000
    f = io.BytesIO(b"skip" + data)
    f.seek(4)
    await client.put((bucket, "from-file"), f)
    assert await client.get((bucket, "from-file")) == data

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 7_000):
            yield data[i : i + 7_000]

    await client.put((bucket, "from-iter"), chunks())
    assert await client.get((bucket, "from-iter")) == data
    with pytest.raises(ConfigError):
        await client.put((bucket, "bad"), 42)  # type: ignore[arg-type]


async def test_put_sends_body_once(client: AsyncClient, cluster: LocalCluster, bucket: str) -> None:
    before = cluster.stats()
    await client.put((bucket, "once"), b"x" * 100_000)
    after = cluster.stats()
    assert after["proxy.PUT"] - before["proxy.PUT"] == 1
    assert after["target.PUT"] - before["target.PUT"] == 1
    assert client.stats.redirects >= 1


async def test_get_stream_and_get_into(
    client: AsyncClient, cluster: LocalCluster, bucket: str
) -> None:
    data = bytes(range(251)) * 20_000  # ~5 MB
    cluster.put_object(bucket, "big", data)
    small = AsyncClient(cluster.endpoint, config=FAST.replace(chunk_size=64 << 10))
    async with small:
        chunks = [c async for c in small.get_stream((bucket, "big"))]
    assert b"".join(chunks) == data
    assert len(chunks) > 10
    assert max(len(c) for c in chunks) <= 64 << 10
    buf = bytearray(len(data) + 10)
    assert await client.get_into((bucket, "big"), buf) == len(data)
    assert buf[: len(data)] == data
    with pytest.raises(ConfigError, match="buffer"):
        await client.get_into((bucket, "big"), bytearray(100))


async def test_archpath(client: AsyncClient, bucket: str) -> None:
    members = {"s1.jpg": b"jpeg-bytes", "s1.cls": b"7", "sub/s2.jpg": b"x" * 5000}
    await client.put((bucket, "shards/shard-0.tar"), tar_of(members))
    for name, data in members.items():
        assert await client.get((bucket, "shards/shard-0.tar"), archpath=name) == data
    with pytest.raises(ObjectNotFound):
        await client.get((bucket, "shards/shard-0.tar"), archpath="missing.txt")
    listed = [e async for e in client.list_objects(bucket, "shards/", flags=ARCH_DIR)]
    names = {e.name: e.flags for e in listed}
    assert names["shards/shard-0.tar/sub/s2.jpg"] & 128


async def test_listing_pages_stream(
    client: AsyncClient, cluster: LocalCluster, bucket: str
) -> None:
    names = [f"obj-{i:04d}" for i in range(53)]
    for n in names:
        cluster.put_object(bucket, n, n.encode())
    cluster.put_object(bucket, "other/x", b"x")
    before = cluster.stats()["proxy.GET"]
    entries = client.list_objects(bucket, "obj-", page_size=10)
    first = await anext(entries)
    assert first.name == "obj-0000"
    assert first.size == 8
    assert cluster.stats()["proxy.GET"] - before == 1  # first names before the listing ends
    rest = [e.name async for e in entries]
    assert [first.name, *rest] == names
    assert cluster.stats()["proxy.GET"] - before == 6  # 6 pages of 10
    everything = [e.name async for e in client.list_objects(bucket, props="name")]
    assert everything == [*names, "other/x"]
    with pytest.raises(BucketNotFound):
        [e async for e in client.list_objects("core-nope")]


async def test_stats_and_repr(client: AsyncClient, bucket: str) -> None:
    await client.put((bucket, "s"), b"abc")
    await client.get((bucket, "s"))
    assert client.stats.requests >= 4
    assert client.stats.bytes_received >= 3
    assert "core-" not in repr(client)
