"""Shard readers resume inside shards, with samples of several shards in flight and in the
shuffle buffer: the samples not yet delivered, in the uninterrupted order on the same layout
(exactly once where the order is not fixed), and exactly once on another layout."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from _shared import FAST, keep, put_objects, tar_of
from torchdata.stateful_dataloader import StatefulDataLoader

from aisloader import merge_states
from aisloader.core.client import AsyncClient
from aisloader.core.streams import ObjectStream, ShardOptions, ShardStream
from aisloader.errors import ConfigError
from aisloader.server import LocalCluster
from aisloader.torch import AISShardReader, LoaderProgress
from shards.util import ids, put_regular


def _put(cluster: LocalCluster, bucket: str) -> None:
    for s in range(5):
        samples = [
            (f"s{s}-{k:02d}.{ext}", b"%d:%d:%s" % (s, k, ext.encode()))
            for k in range(9)
            for ext in ("jpg", "cls")
        ]
        cluster.put_object(bucket, f"train/{s}.tar", tar_of(samples))


def _loader(dataset: Any, workers: int) -> StatefulDataLoader:
    return StatefulDataLoader(dataset, batch_size=4, num_workers=workers, collate_fn=keep)


@pytest.mark.parametrize(("workers", "cut"), [(0, 3), (0, 0), (2, 5)])
def test_plugin_form_resumes_inside_a_shard(
    cluster: LocalCluster, bucket: str, workers: int, cut: int
) -> None:
    _put(cluster, bucket)

    def reader() -> AISShardReader:
        return AISShardReader(
            f"ais://{bucket}/train/", endpoint=cluster.endpoint, config=FAST, shuffle=True, seed=2
        )

    whole = [s for b in _loader(reader(), workers) for s in b]
    assert len(whole) == 45
    first = _loader(reader(), workers)
    taken = [s for b in itertools.islice(iter(first), cut) for s in b]
    state = first.state_dict()
    second = _loader(reader(), workers)
    second.load_state_dict(state)
    rest = [s for b in second for s in b]
    assert [k for k, _ in taken + rest] == [k for k, _ in whole]
    assert taken + rest == whole


def _dicts(cluster: LocalCluster, url: str, **kw: Any) -> AISShardReader:
    return AISShardReader(
        url,
        endpoint=cluster.endpoint,
        config=FAST,
        sample_format="dict",
        shuffle=True,
        seed=4,
        **kw,
    )


DETERMINISTIC = {"deterministic": True, "shuffle_buffer": 6}
SEQUENTIAL_BUFFER = {"sequential": True, "shuffle_buffer": 5}


@pytest.mark.parametrize(
    ("options", "workers", "method", "cut"),
    [
        (DETERMINISTIC, 0, None, 0),
        (DETERMINISTIC, 0, None, 5),
        (DETERMINISTIC, 0, None, 13),  # only buffered samples left
        (DETERMINISTIC, 0, None, 14),  # the end of the epoch: nothing left
        (DETERMINISTIC, 2, "fork", 3),
        (DETERMINISTIC, 3, "forkserver", 2),
        (SEQUENTIAL_BUFFER, 2, "fork", 4),  # forkserver above pickles the state as spawn does
    ],
)
def test_shuffle_buffer_and_interleaved_shards_resume_in_the_uninterrupted_order(
    cluster: LocalCluster,
    bucket: str,
    options: dict[str, Any],
    workers: int,
    method: str | None,
    cut: int,
) -> None:
    """Cut inside shards, with samples of several shards in flight and in the shuffle buffer:
    the rest is exactly what the uninterrupted run delivered after the cut, in its order."""
    everything = put_regular(cluster, bucket, 6, 7)
    url = f"ais://{bucket}/train/"

    def loader(reader: AISShardReader) -> StatefulDataLoader:
        context = method if workers else None
        return StatefulDataLoader(
            reader,
            batch_size=3,
            num_workers=workers,
            multiprocessing_context=context,
            collate_fn=keep,
        )

    whole = ids(s for b in loader(_dicts(cluster, url, **options)) for s in b)
    assert sorted(whole) == sorted(everything)
    first = loader(_dicts(cluster, url, **options))
    taken = ids(s for b in itertools.islice(iter(first), cut) for s in b)
    state = first.state_dict()
    second = loader(_dicts(cluster, url, **options))
    second.load_state_dict(state)
    rest = ids(s for b in second for s in b)
    assert taken + rest == whole


@pytest.mark.parametrize("workers", [0, 2])
def test_free_interleave_resumes_exactly_once(
    cluster: LocalCluster, bucket: str, workers: int
) -> None:
    """Without a fixed order (shards interleaved as they arrive) a resume still delivers each
    sample not yet delivered exactly once."""
    everything = put_regular(cluster, bucket, 6, 7)
    url = f"ais://{bucket}/train/"
    first = StatefulDataLoader(
        _dicts(cluster, url, shuffle_buffer=5),
        batch_size=3,
        num_workers=workers,
        collate_fn=keep,
    )
    taken = ids(s for b in itertools.islice(iter(first), 5) for s in b)
    second = StatefulDataLoader(
        _dicts(cluster, url, shuffle_buffer=5),
        batch_size=3,
        num_workers=workers,
        collate_fn=keep,
    )
    second.load_state_dict(first.state_dict())
    rest = ids(s for b in second for s in b)
    assert len(taken) == 15
    assert sorted(taken + rest) == sorted(everything)


def _cut(reader: AISShardReader, count: int) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    got = ids(itertools.islice(iter(reader), count))
    return got, reader.state_dict()


@pytest.mark.parametrize("options", [DETERMINISTIC, {"shuffle_buffer": 4}, {"sequential": True}])
def test_elastic_resume_inside_shards_reads_what_is_left_exactly_once(
    cluster: LocalCluster, bucket: str, options: dict[str, Any]
) -> None:
    """2 ranks stop inside shards (samples in their buffers), 3 ranks go on, stop again, and 1
    rank finishes: every sample exactly once (shards not fully delivered are leftovers)."""
    everything = put_regular(cluster, bucket, 7, 6)
    url = f"ais://{bucket}/train/"
    seen: list[tuple[str, str]] = []
    state: dict[str, Any] | None = None
    for world, cuts in ((2, (5, 9)), (3, (4, 0, 7)), (1, (None,))):
        states = []
        for rank, cut in enumerate(cuts):
            reader = _dicts(cluster, url, rank=rank, world_size=world, **options)
            if state is not None:
                reader.load_state_dict(state)
            if cut is None:
                seen += ids(reader)
                continue
            got, part = _cut(reader, cut)
            seen += got
            states.append(part)
        state = merge_states(states) if states else None
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(everything)


def test_plugin_padding_is_restored_on_resume(cluster: LocalCluster, bucket: str) -> None:
    """The plugin form pads each sample with every extension seen before; a resume inside a
    later shard keeps padding with the extensions of the shards delivered before the cut."""
    cluster.put_object(bucket, "p/0.tar", tar_of([("a.jpg", b"1"), ("a.cls", b"2")]))
    cluster.put_object(bucket, "p/1.tar", tar_of([(f"b{i}.jpg", b"3") for i in range(4)]))

    def reader() -> AISShardReader:
        return AISShardReader(f"ais://{bucket}/p/", endpoint=cluster.endpoint, config=FAST)

    whole = list(reader())
    first = reader()
    taken = list(itertools.islice(iter(first), 2))
    again = reader()
    again.load_state_dict(first.state_dict())
    rest = list(again)
    assert taken + rest == whole
    assert rest[-1][1] == {"jpg": b"3", "cls": b""}


def test_a_plain_dataloader_counter_refuses_shard_readers(
    cluster: LocalCluster, bucket: str
) -> None:
    _put(cluster, bucket)
    with pytest.raises(ConfigError, match="StatefulDataLoader"):
        LoaderProgress(
            AISShardReader(f"ais://{bucket}/train/", endpoint=cluster.endpoint), batch_size=2
        )


@pytest.mark.parametrize("options", [DETERMINISTIC, {"sequential": True, "pad_missing": True}])
async def test_an_async_stream_resumes_from_its_own_state(
    cluster: LocalCluster, bucket: str, client: AsyncClient, options: dict[str, Any]
) -> None:
    """``async for`` over a core stream: state_dict() after k samples, load_state_dict() on a
    new stream (as after a restart): the rest of the epoch in the uninterrupted order."""
    put_regular(cluster, bucket, 5, 6)

    def stream() -> ShardStream:
        opts = ShardOptions(
            shuffle_buffer=options.get("shuffle_buffer", 0),
            deterministic=options.get("deterministic", False),
            sequential=options.get("sequential", False),
            pad_missing=options.get("pad_missing", False),
        )
        return ShardStream(
            f"ais://{bucket}/train/", client=client, shuffle=True, seed=9, options=opts
        )

    whole = ids([s async for s in stream()])
    first = stream()
    taken = []
    async for sample in first:
        taken.append(sample)
        if len(taken) == 11:
            break
    state = json.loads(json.dumps(first.state_dict()))  # plain data
    second = stream()
    second.load_state_dict(state)
    rest = ids([s async for s in second])
    assert ids(taken) + rest == whole
    assert len(ids([s async for s in second])) == len(whole)  # the next pass: a whole epoch


async def test_an_async_object_stream_resumes_from_its_own_state(
    cluster: LocalCluster, bucket: str, client: AsyncClient
) -> None:
    put_objects(cluster, bucket, 20, size=8)

    def stream() -> ObjectStream:
        return ObjectStream(f"ais://{bucket}/o/", client=client, shuffle=True, seed=3)

    whole = [name async for name, _ in stream()]
    first, taken = stream(), []
    async for name, _ in first:
        taken.append(name)
        if len(taken) == 7:
            break
    second = stream()
    second.load_state_dict(first.state_dict())
    assert taken + [name async for name, _ in second] == whole
