"""Where an epoch stands: which positions were delivered, under which layouts (pure rules).

An epoch is a sequence of ``n`` positions (the seeded permutation is applied on top). A
*layout* deals the positions still to read round-robin to ``count`` parts (rank × worker).
When a job stops mid-epoch, each part has delivered a prefix of its share: that is a
:class:`Round` — the layout's part count and how many items each part delivered. A job that
resumes with another layout (elastic) deals the positions **left** after all earlier rounds to
its own parts, so every position is still read exactly once; with the same layout, each part
simply continues after its own prefix, in the order an uninterrupted run would have used.

The state is a few integers per part and round, never a list of samples.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from aisloader.core.streams.order import Part, part_positions

__all__ = ["Plan", "Round", "merge_rounds"]


@dataclass(frozen=True, slots=True)
class Round:
    """One interrupted layout: ``count`` parts, part ``i`` delivered ``done[i]`` items.

    Raises:
        ValueError: ``done`` does not have one entry per part, or holds a negative count.
    """

    count: int
    done: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.count < 1 or len(self.done) != self.count or min(self.done) < 0:
            raise ValueError(f"a round needs {self.count} non-negative counts, got {self.done}")


@dataclass(frozen=True, slots=True)
class Plan:
    """The positions of one epoch still to read, after the interrupted ``rounds``."""

    size: int
    rounds: tuple[Round, ...] = ()

    def remaining(self) -> Iterator[int]:
        """Positions not delivered in any earlier round, in epoch order.

        Raises:
            ValueError: a round claims more items than its parts had.
        """
        left: Iterator[int] = iter(range(self.size))
        total = self.size
        for rnd in self.rounds:
            shares = [len(part_positions(total, Part(i, rnd.count))) for i in range(rnd.count)]
            if any(d > s for d, s in zip(rnd.done, shares, strict=True)):
                raise ValueError(f"a round delivered {rnd.done} of shares {shares}")
            left = _after_round(left, rnd)
            total -= sum(rnd.done)
        return left

    def left(self) -> int:
        """How many positions are still to read."""
        return self.size - sum(sum(r.done) for r in self.rounds)

    def positions(self, part: Part, skip: int = 0) -> Iterator[int]:
        """``part``'s positions in the current round, after its first ``skip``."""
        mine = part_positions(self.left(), part)[skip:]
        return itertools.islice(self.remaining(), mine.start, None, mine.step)

    def part_size(self, part: Part) -> int:
        """How many positions ``part`` reads in the current round."""
        return len(part_positions(self.left(), part))

    def then(self, rnd: Round) -> Plan:
        """This plan after another interrupted round."""
        return Plan(self.size, (*self.rounds, rnd))


def _after_round(left: Iterator[int], rnd: Round) -> Iterator[int]:
    """``left`` without the items the round's parts delivered (each a prefix of its share)."""
    common = min(rnd.done)
    skipped = itertools.islice(left, common * rnd.count, None)  # every part delivered these
    done = [d - common for d in rnd.done]
    for j, position in enumerate(skipped):
        if j // rnd.count >= done[j % rnd.count]:
            yield position


def merge_rounds(parts: Sequence[tuple[int, int, int]]) -> Round:
    """One :class:`Round` from ``(part index, part count, delivered)`` of every part.

    Raises:
        ValueError: parts of different layouts, or a part missing or given twice.
    """
    counts = {count for _, count, _ in parts}
    if len(counts) != 1:
        raise ValueError(f"the states come from different layouts (part counts {sorted(counts)})")
    (count,) = counts
    done: dict[int, int] = {}
    for index, _, delivered in parts:
        if index in done:
            raise ValueError(f"part {index} of {count} is given twice")
        done[index] = delivered
    missing = sorted(set(range(count)) - set(done))
    if missing:
        raise ValueError(f"the states of parts {missing} of {count} are missing")
    return Round(count, tuple(done[i] for i in range(count)))
