"""Order: rank × worker split, seeded shard shuffle, the bounded sample shuffle buffer,
concurrent shards (a slow one does not stall the rest) and early exit."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest
from _shared import FAST

from aisloader.core.client import AsyncClient
from aisloader.core.streams.order import Part
from aisloader.core.streams.shards import ShardOptions, ShardStream
from aisloader.server import LocalCluster
from aisloader.server.faults import Fault

from .util import EXTS, data_of, ids, put_regular


def _stream(client: AsyncClient, url: str, **kw: object) -> ShardStream:
    options = {k: kw.pop(k) for k in list(kw) if k in ShardOptions.__dataclass_fields__}
    return ShardStream(url, client=client, options=ShardOptions(**options), **kw)  # type: ignore[arg-type]


async def _ids(stream: ShardStream, epoch: int = 0) -> list[tuple[str, str]]:
    stream.set_epoch(epoch)
    return ids([s async for s in stream])


@pytest.mark.parametrize("shuffle", [False, True])
async def test_parts_read_every_sample_once(
    cluster: LocalCluster, bucket: str, client: AsyncClient, shuffle: bool
) -> None:
    everything = put_regular(cluster, bucket, 7, 3)
    url = f"ais://{bucket}/train/"
    for count in (1, 2, 3, 4, 8):
        seen: list[tuple[str, str]] = []
        shards_of_part = []
        for index in range(count):
            part = Part(index, count)
            got = await _ids(_stream(client, url, part=part, shuffle=shuffle, seed=3), epoch=2)
            seen += got
            shards_of_part.append({u for u, _ in got})
        assert sorted(seen) == sorted(everything), count
        for i in range(count):  # whole shards: no shard is split between parts
            for j in range(i + 1, count):
                assert not shards_of_part[i] & shards_of_part[j]


@pytest.mark.parametrize(("in_flight", "deterministic"), [(1, False), (2, True), (3, True)])
async def test_shuffle_is_seeded_per_epoch(
    cluster: LocalCluster, bucket: str, in_flight: int, deterministic: bool
) -> None:
    everything = put_regular(cluster, bucket, 9, 4)
    url = f"ais://{bucket}/train/"
    config = FAST.replace(shards_in_flight=in_flight)
    async with AsyncClient(cluster.endpoint, config=config) as client:

        async def order(epoch: int, seed: int = 1, buffer: int = 0) -> list[tuple[str, str]]:
            stream = _stream(
                client,
                url,
                shuffle=True,
                seed=seed,
                deterministic=deterministic,
                shuffle_buffer=buffer,
            )
            return await _ids(stream, epoch)

        first = await order(0)
        assert sorted(first) == sorted(everything)
        assert await order(0) == first  # same seed and epoch: same order
        assert await order(1) != first  # another epoch: another order
        assert await order(0, seed=2) != first
        shard_order = list(dict.fromkeys(u for u, _ in first))
        assert shard_order != sorted(shard_order)  # the shards themselves were shuffled
        mixed = await order(0, buffer=10)
        assert mixed == await order(0, buffer=10)
        assert mixed != first
        assert sorted(mixed) == sorted(everything)


@pytest.mark.parametrize(("count", "nbytes_in_samples", "bound"), [(7, 1000, 7), (1000, 5, 5)])
async def test_shuffle_buffer_is_bounded_by_count_and_bytes(
    cluster: LocalCluster,
    bucket: str,
    count: int,
    nbytes_in_samples: int,
    bound: int,
) -> None:
    """Output j comes from the first j + K inputs (K = the bound that binds first)."""
    put_regular(cluster, bucket, 4, 50)
    url = f"ais://{bucket}/train/"
    config = FAST.replace(shards_in_flight=1)
    async with AsyncClient(cluster.endpoint, config=config) as client:
        plain = await _ids(_stream(client, url))
        size = sum(len(data_of(0, 0, ext)) for ext in EXTS)  # every sample's size
        stream = _stream(
            client, url, shuffle_buffer=count, shuffle_bytes=nbytes_in_samples * size, seed=4
        )
        mixed = await _ids(stream)
    assert sorted(mixed) == sorted(plain)
    position = {sample: i for i, sample in enumerate(plain)}
    displacement = max(position[sample] - j for j, sample in enumerate(mixed))
    assert displacement == bound


async def test_batches_are_the_same_samples_in_bounded_lists(
    cluster: LocalCluster, bucket: str
) -> None:
    put_regular(cluster, bucket, 5, 30)
    url = f"ais://{bucket}/train/"
    config = FAST.replace(shards_in_flight=1)
    async with AsyncClient(cluster.endpoint, config=config) as client:
        plain = await _ids(_stream(client, url, shuffle=True, seed=2, shuffle_buffer=9))
        stream = _stream(client, url, shuffle=True, seed=2, shuffle_buffer=9)
        lists = [b async for b in stream.batches(max_count=7)]
        assert ids(s for b in lists for s in b) == plain
        assert [len(b) for b in lists] == [7] * 21 + [3]
        size = sum(len(data_of(0, 0, ext)) for ext in EXTS)
        by_bytes = [b async for b in stream.batches(max_count=100, max_bytes=3 * size)]
        assert {len(b) for b in by_bytes} == {3}


async def test_slow_shard_does_not_stall_the_others(cluster: LocalCluster, bucket: str) -> None:
    """With 2 shards in flight, fast shards stream past a slow one (listed first)."""
    put_regular(cluster, bucket, 6, 20)
    slow = put_regular(cluster, bucket, 1, 20, prefix="train/a-slow-")  # lists first
    slow_url = next(iter(slow))[0]
    fault = Fault(
        kind="slow",
        fraction=1.0,
        delay=0.25,
        hop="target",
        path_prefix=f"/v1/objects/{bucket}/train/a-",
    )
    cluster.set_faults([fault])
    url = f"ais://{bucket}/train/"
    for in_flight in (1, 2):
        config = FAST.replace(shards_in_flight=in_flight)
        before = cluster.stats()["faults.slow"]
        async with AsyncClient(cluster.endpoint, config=config) as client:
            got = await _ids(_stream(client, url))
        assert cluster.stats()["faults.slow"] - before == 1  # the slow shard was sent slowly
        last_fast = max(i for i, (u, _) in enumerate(got) if u != slow_url)
        first_slow_done = max(i for i, (u, _) in enumerate(got) if u == slow_url)
        if in_flight == 1:
            assert first_slow_done < last_fast  # in order: everything waits for the slow one
        else:
            assert last_fast < first_slow_done  # every fast shard finished meanwhile


async def test_early_exit_leaves_no_task(
    cluster: LocalCluster, bucket: str, client: AsyncClient
) -> None:
    put_regular(cluster, bucket, 6, 50)
    stream = _stream(client, f"ais://{bucket}/train/", shuffle_buffer=20)
    taken = 0
    async with aclosing(stream.__aiter__()) as samples:
        async for _ in samples:
            taken += 1
            if taken == 5:
                break
    assert asyncio.all_tasks() == {asyncio.current_task()}
