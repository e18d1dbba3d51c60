"""Equal per-rank counts: every rank reads as many samples (and DataLoader batches) as the
others, by padding with repeats or dropping the last few; __len__ agrees."""

from __future__ import annotations

from collections import Counter

import pytest
from _shared import FAST, data_loader

from aisloader import AsyncClient, ObjectStream, is_padding, merge_states
from aisloader.core.streams.order import Part
from aisloader.errors import ConfigError, ResumeError
from aisloader.server import LocalCluster
from aisloader.torch import AISIterDataset

WORLD = 7  # 60 objects: 8 or 9 per rank


@pytest.mark.parametrize(("equal", "per_rank"), [("pad", 9), ("drop", 8)])
def test_every_rank_reads_the_same_count(
    cluster: LocalCluster, objects: dict[str, bytes], equal: str, per_rank: int
) -> None:
    names: Counter[str] = Counter()
    repeats: list[str] = []
    for rank in range(WORLD):
        dataset = AISIterDataset(
            "ais://tds/o/",
            endpoint=cluster.endpoint,
            config=FAST,
            shuffle=True,
            seed=3,
            equal=equal,
            rank=rank,
            world_size=WORLD,
        )
        batches = list(data_loader(dataset, 2, "fork", batch_size=2))
        got = [name for batch in batches for name, _ in batch]
        assert len(dataset) == len(got) == per_rank
        assert len(batches) == (5 if equal == "pad" else 4)  # 2 workers: 5+4 or 4+4 items
        names.update(got)
        repeats += [name for name in got if is_padding(name)]
    if equal == "pad":
        assert set(names) == set(objects)
        assert sorted(names.values()).count(2) == WORLD * per_rank - len(objects)
        assert len(repeats) == WORLD * per_rank - len(objects)  # each repeat is marked
        assert all(names[name] == 2 for name in repeats)
    else:
        assert not repeats
    if equal == "drop":
        assert max(names.values()) == 1
        assert len(names) == WORLD * per_rank


def test_equal_must_be_a_known_policy(cluster: LocalCluster) -> None:
    with pytest.raises(ConfigError, match="equal"):
        AISIterDataset("ais://tds/o/", endpoint=cluster.endpoint, equal="even")  # type: ignore[arg-type]


def test_equal_with_another_rank_count_refuses_to_resume(
    cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    def dataset(rank: int, world: int) -> AISIterDataset:
        return AISIterDataset(
            "ais://tds/o/",
            endpoint=cluster.endpoint,
            config=FAST,
            equal="pad",
            rank=rank,
            world_size=world,
        )

    states = []
    for rank in range(WORLD):
        ds = dataset(rank, WORLD)
        next(iter(ds))
        states.append(ds.state_dict())
    resumed = dataset(0, 2)
    resumed.load_state_dict(merge_states(states))
    with pytest.raises(ResumeError, match=r"equal='pad'.*63 positions.*2 ranks.*60"):
        list(resumed)


async def test_an_async_stream_marks_its_repeats(
    cluster: LocalCluster, objects: dict[str, bytes], client: AsyncClient
) -> None:
    got = []
    for rank in range(WORLD):
        stream = ObjectStream(
            "ais://tds/o/", client=client, equal="pad", part=Part(rank, WORLD), ranks=WORLD
        )
        got += [name async for name, _ in stream]
    repeats = [name for name in got if is_padding(name)]
    assert len(got) == WORLD * 9
    assert sorted(repeats) == sorted(n for n, c in Counter(got).items() if c == 2)
    assert set(got) == set(objects)
