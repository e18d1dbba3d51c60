"""Epoch order and the rank × worker split: pure rules, used by every dataset.

* :class:`Permutation` is a seeded bijection of ``range(n)`` computed on the fly (a Feistel
  network with cycle walking): O(1) memory for any ``n``, identical on every rank and worker for
  the same ``(seed, epoch)``, different for every epoch.
* :func:`split` says which positions of the epoch order belong to one rank × worker. It is the
  one place where work is divided, so each item is read exactly once per epoch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Part", "Permutation", "mix64", "part_positions", "split"]

_MASK64 = (1 << 64) - 1
_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class Part:
    """One consumer's share: every ``count``-th position of the epoch order from ``index``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"invalid part {self.index} of {self.count}")


def split(rank: int, world_size: int, worker: int, num_workers: int) -> Part:
    """Combine a torch.distributed rank and a DataLoader worker into one :class:`Part`.

    Split by rank first (rank ``r`` owns positions ``r, r+W, r+2W, …``), then deal those
    among the rank's workers. So a rank's total never depends on its ``num_workers``:
    ``range(r, n, W)[w::N] == range(r + w*W, n, W*N)``.

    Raises:
        ValueError: a rank or worker index out of range.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"invalid rank {rank} of world size {world_size}")
    if num_workers < 1 or not 0 <= worker < num_workers:
        raise ValueError(f"invalid worker {worker} of {num_workers}")
    return Part(rank + worker * world_size, world_size * num_workers)


def part_positions(n: int, part: Part) -> range:
    """Positions ``0..n-1`` of the epoch order that ``part`` owns (round-robin)."""
    return range(part.index, n, part.count)


class Permutation:
    """A seeded pseudo-random bijection of ``range(n)``, evaluated per index in O(1) memory.

    ``Permutation(n, seed, epoch)[i]`` is the item read at position ``i`` of that epoch.
    ``shuffle=False`` gives the identity.
    """

    __slots__ = ("_bits", "_half", "_keys", "n")

    def __init__(self, n: int, seed: int = 0, epoch: int = 0, *, shuffle: bool = True) -> None:
        if n < 0:
            raise ValueError(f"permutation size must be >= 0, got {n}")
        self.n = n
        if not shuffle or n < 2:
            self._keys: tuple[int, ...] = ()
            self._bits = self._half = 0
            return
        bits = max(2, (n - 1).bit_length())
        bits += bits % 2  # even, so the two Feistel halves have equal width
        self._bits, self._half = bits, bits // 2
        material = hashlib.blake2b(f"{seed}:{epoch}".encode(), digest_size=8 * _ROUNDS).digest()
        self._keys = tuple(
            int.from_bytes(material[8 * r : 8 * r + 8], "little") for r in range(_ROUNDS)
        )

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> int:
        if not 0 <= index < self.n:
            raise IndexError(f"position {index} out of range for {self.n} items")
        if not self._keys:
            return index
        value = self._feistel(index)
        while value >= self.n:  # cycle walking keeps the result inside range(n)
            value = self._feistel(value)
        return value

    def __iter__(self) -> Iterator[int]:
        return (self[i] for i in range(self.n))

    def _feistel(self, value: int) -> int:
        half = self._half
        mask = (1 << half) - 1
        left, right = value >> half, value & mask
        for key in self._keys:
            left, right = right, left ^ (mix64(right ^ key) & mask)
        return (left << half) | right


def mix64(x: int) -> int:
    """splitmix64 finaliser: a fast, well-distributed 64-bit round function."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)
