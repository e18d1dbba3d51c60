"""Epoch permutation and the rank × worker split."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aisloader.core.streams.order import Part, Permutation, part_positions, split


@given(n=st.integers(0, 3000), seed=st.integers(0, 2**32), epoch=st.integers(0, 50))
def test_permutation_is_a_bijection(n: int, seed: int, epoch: int) -> None:
    assert sorted(Permutation(n, seed, epoch)) == list(range(n))


def test_permutation_deterministic_and_changes_per_epoch() -> None:
    a = list(Permutation(1000, seed=7, epoch=0))
    assert a == list(Permutation(1000, seed=7, epoch=0))
    assert a != list(Permutation(1000, seed=7, epoch=1))
    assert a != list(Permutation(1000, seed=8, epoch=0))
    assert a != list(range(1000))
    assert list(Permutation(10, shuffle=False)) == list(range(10))


def test_permutation_is_well_mixed() -> None:
    # Items of the first tenth should not stay clustered at the front.
    perm = Permutation(10_000, seed=1)
    head = [perm[i] for i in range(1000)]
    assert sum(1 for v in head if v < 1000) < 200


@given(
    n=st.integers(0, 500),
    world=st.integers(1, 4),
    workers=st.integers(1, 4),
)
def test_split_is_exactly_once(n: int, world: int, workers: int) -> None:
    seen: list[int] = []
    for rank in range(world):
        for worker in range(workers):
            seen.extend(part_positions(n, split(rank, world, worker, workers)))
    assert sorted(seen) == list(range(n))


def test_split_rejects_bad_indices() -> None:
    import pytest

    with pytest.raises(ValueError, match="rank"):
        split(2, 2, 0, 1)
    with pytest.raises(ValueError, match="worker"):
        split(0, 1, 3, 3)
    with pytest.raises(ValueError, match="part"):
        Part(1, 1)


@given(n=st.integers(0, 300), world=st.integers(1, 4), workers=st.integers(1, 4))
def test_rank_share_does_not_depend_on_workers(n: int, world: int, workers: int) -> None:
    for rank in range(world):
        share = sorted(
            p for w in range(workers) for p in part_positions(n, split(rank, world, w, workers))
        )
        assert share == list(range(rank, n, world))
