"""The shard cursor mirrors a shard stream from the traces alone: the buffer by position, the
shards in flight, and what a shard not fully delivered still owes (pure rules)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aisloader.core.stages.shuffle import ShuffleBuffer
from aisloader.core.streams.shard_cursor import END, OPEN, TAKE, Rule, ShardCursor, leftovers


def test_a_rule_composes_what_was_read_and_what_waits_in_a_buffer() -> None:
    assert [i for i in range(8) if Rule(3, (1,)).wants(i)] == [1, 3, 4, 5, 6, 7]
    assert Rule(3, (1,)).after(4, ended=False) == Rule(5)
    assert Rule(3, (1,)).after(1, ended=False) == Rule(3)
    assert Rule(-1, (2, 6)).after(2, ended=False) == Rule(-1, (6,))
    assert Rule(-1, (2, 6)).past(6)
    assert not Rule(-1, (2, 6)).past(5)
    assert Rule(0).after(9, ended=True).empty
    assert Rule(5).plus([1, 7, 1]) == Rule(5, (1,))
    assert Rule(-1).plus([4, 2]) == Rule(-1, (2, 4))


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 9), min_size=1, max_size=6),
    capacity=st.integers(0, 5),
    stop=st.integers(0, 60),
    seed=st.integers(0, 2**32),
)
def test_the_cursor_knows_the_buffer_and_the_shards_after_any_sample(
    sizes: list[int], capacity: int, stop: int, seed: int
) -> None:
    """A producer reads shards one after the other through a shuffle buffer; a consumer that
    replays the traces of the first ``stop`` samples can continue exactly: what it got, plus
    the buffered samples and the rest of the shard it was in, plus the later shards, is every
    sample once."""
    cursor, out = ShardCursor(), []
    buffer: ShuffleBuffer[tuple[int, int]] = ShuffleBuffer(capacity, 1 << 30, seed=seed)
    events: list[tuple[object, ...]] = []

    def emit(item: tuple[int, int]) -> bool:
        trace = (tuple(events), buffer.slot if capacity else 0)
        events.clear()
        if len(out) < stop:
            assert cursor.apply(trace) == item  # the mirror pops what the buffer popped
            out.append(item)
        return len(out) < stop

    going = True
    for o, size in enumerate(sizes):
        events.append((OPEN, o, 100 + o, 0, ()))
        for i in range(size):
            events.append((TAKE, o, i))
            if capacity == 0:
                going = going and emit((o, i))
                continue
            for item in buffer.push((o, i), 1):
                going = going and emit(item)
        events.append((END, o))
    for item in buffer.drain() if capacity else ():
        going = going and emit(item)
    state = cursor.state()
    rest = [(o, i) for o, i in state["buffer"]]
    for o, m, start, holes, _ in state["shards"]:
        assert m == 100 + o
        rest += [(o, i) for i in range(sizes[o]) if Rule(start, tuple(holes)).wants(i)]
    rest += [(o, i) for o in range(state["opened"], len(sizes)) for i in range(sizes[o])]
    everything = [(o, i) for o, size in enumerate(sizes) for i in range(size)]
    assert sorted(out + rest) == everything
    (left,) = [leftovers([], [(0, 1, state)])]
    owed = [
        (m - 100, i)
        for m, s, h in left
        for i in range(sizes[m - 100])
        if Rule(s, tuple(h)).wants(i)
    ]
    later = [(o, i) for o in range(state["opened"], len(sizes)) for i in range(sizes[o])]
    assert sorted(out + owed + later) == everything  # the leftovers owe exactly the rest


def test_leftovers_keep_the_unopened_share_of_an_earlier_round() -> None:
    old = [[7, 0, []], [8, 2, [0]], [9, -1, [3]]]
    part0 = {"opened": 1, "shards": [[0, 7, 4, [], False]], "buffer": [[0, 1]]}
    part1 = {"opened": 0, "shards": [], "buffer": []}
    got = leftovers(old, [(1, 2, part1), (0, 2, part0)])
    assert got == [[9, -1, [3]], [7, 4, [1]], [8, 2, [0]]]
