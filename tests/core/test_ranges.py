"""Large objects as concurrent range reads (``get_parallel``): every result type equals a plain
GET, a size that is not the object's is refused, and a failing range leaves nothing running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from _shared import FAST

from aisloader.core.client import AsyncClient
from aisloader.errors import DataError, ServiceUnavailable
from aisloader.server import Fault, LocalCluster

SIZE = (1 << 20) + 12345  # not a multiple of the range size


class Bytes(bytes):
    pass


class Buffer(bytearray):
    pass


@pytest.fixture
def big(cluster: LocalCluster, bucket: str) -> tuple[str, bytes]:
    data = bytes(range(256)) * (SIZE // 256) + b"tail" * 10
    cluster.put_object(bucket, "big", data)
    return bucket, data


@pytest.mark.parametrize("as_type", [bytes, bytearray, Bytes, Buffer])
async def test_every_result_type_equals_a_plain_get(
    client: AsyncClient, big: tuple[str, bytes], as_type: type
) -> None:
    bucket, data = big
    got = await client.get_parallel((bucket, "big"), workers=5, min_part=64 << 10, as_type=as_type)
    assert type(got) is as_type
    assert got == data == await client.get((bucket, "big"))


async def test_a_size_that_is_not_the_objects_is_refused(
    client: AsyncClient, big: tuple[str, bytes]
) -> None:
    bucket, data = big
    for wrong in (len(data) - 100, len(data) + 100):
        with pytest.raises(DataError, match="changed since listed"):
            await client.get_parallel((bucket, "big"), size=wrong, workers=4, min_part=1 << 16)


async def test_a_failing_range_ends_the_others_before_raising(
    cluster: LocalCluster, big: tuple[str, bytes]
) -> None:
    bucket, _ = big
    cluster.set_faults([Fault("status", every=3, status=500, path_prefix=f"/v1/objects/{bucket}/")])
    async with AsyncClient(cluster.endpoint, config=FAST.replace(retry_attempts=1)) as c:
        with pytest.raises(ServiceUnavailable):
            await c.get_parallel((bucket, "big"), size=len(big[1]), workers=8, min_part=1 << 16)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not [t for t in others if "_read_range" in repr(t.get_coro())]


@pytest.mark.parametrize("verify", [False, True])
async def test_get_switches_to_ranges_for_a_large_object(
    cluster: LocalCluster, big: tuple[str, bytes], verify: bool
) -> None:
    """Above ``large_object_size`` a plain ``get`` (and ``get_many``) reads ranges: the first
    answer, then ``range_workers`` range GETs; never with ``verify_checksums``."""
    bucket, data = big
    config = FAST.replace(
        large_object_size=256 << 10, range_workers=4, range_size=64 << 10, verify_checksums=verify
    )
    gets = _count_gets(cluster, bucket)  # of this bucket's objects only: the cluster is shared
    async with AsyncClient(cluster.endpoint, config=config) as c:
        assert await c.get((bucket, "big")) == data
        assert [d async for _, d in c.get_many([(bucket, "big")])] == [data]
    assert gets() == (2 if verify else 2 * (1 + 4))
    gets = _count_gets(cluster, bucket)
    small = FAST.replace(large_object_size=len(data) + 1)
    async with AsyncClient(cluster.endpoint, config=small) as c:
        assert await c.get((bucket, "big")) == data
    assert gets() == 1


def _count_gets(cluster: LocalCluster, bucket: str) -> Callable[[], int]:
    """Count the target GETs of ``bucket``'s objects from now (a no-op latency rule)."""
    prefix = f"/v1/objects/{bucket}/"
    cluster.set_faults([Fault("latency", every=1, delay=0.0, hop="target", path_prefix=prefix)])
    start = cluster.stats().get("faults.latency", 0)
    return lambda: cluster.stats()["faults.latency"] - start
