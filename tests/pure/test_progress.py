"""Resume plans: a cut anywhere, resumed on the same or another layout, reads every position
of the epoch exactly once; on the same layout, in the uninterrupted order."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisloader.core.streams.order import Part
from aisloader.core.streams.progress import Plan, Round, merge_rounds


@st.composite
def cuts(draw: st.DrawFn) -> tuple[int, list[tuple[int, list[int]]], int]:
    """An epoch size, up to three interrupted layouts with random cuts, and a final layout."""
    n = draw(st.integers(0, 120))
    rounds: list[tuple[int, list[int]]] = []
    plan = Plan(n)
    for _ in range(draw(st.integers(0, 3))):
        count = draw(st.integers(1, 5))
        shares = [plan.part_size(Part(i, count)) for i in range(count)]
        done = [draw(st.integers(0, share)) for share in shares]
        rounds.append((count, done))
        plan = plan.then(Round(count, tuple(done)))
    return n, rounds, draw(st.integers(1, 5))


def _read(plan: Plan, count: int, done: list[int] | None = None) -> list[list[int]]:
    """What each part of ``count`` reads (its first ``done[i]`` positions if given)."""
    out = []
    for i in range(count):
        positions = list(plan.positions(Part(i, count)))
        out.append(positions if done is None else positions[: done[i]])
    return out


@settings(max_examples=300, deadline=None)
@given(cuts())
def test_every_position_exactly_once(case: tuple[int, list[tuple[int, list[int]]], int]) -> None:
    n, rounds, final = case
    plan, delivered = Plan(n), []
    for count, done in rounds:
        delivered += [p for part in _read(plan, count, done) for p in part]
        plan = plan.then(Round(count, tuple(done)))
    delivered += [p for part in _read(plan, final) for p in part]
    assert sorted(delivered) == list(range(n))
    assert plan.left() == n - sum(sum(d) for _, d in rounds)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200), st.integers(1, 6), st.data())
def test_same_layout_continues_in_the_uninterrupted_order(
    n: int, count: int, data: st.DataObject
) -> None:
    plan = Plan(n)
    for i in range(count):
        part = Part(i, count)
        whole = list(plan.positions(part))
        cut = data.draw(st.integers(0, len(whole)))
        assert list(plan.positions(part, skip=cut)) == whole[cut:]


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        ([(0, 2, 1), (0, 3, 1)], "different layouts"),
        ([(0, 2, 1), (0, 2, 1)], "given twice"),
        ([(0, 3, 1)], "parts [1, 2] of 3 are missing"),
    ],
)
def test_merge_rounds_names_what_is_wrong(parts: list[tuple[int, int, int]], words: str) -> None:
    assert merge_rounds([(1, 2, 5), (0, 2, 4)]) == Round(2, (4, 5))
    with pytest.raises(ValueError, match=re.escape(words)):
        merge_rounds(parts)
