"""The sample shuffle buffer: pure, bounded by count and bytes, restorable by position.

:class:`ShuffleBuffer` holds at most ``max_count`` samples and ``max_bytes`` bytes; once either
bound is reached, each new sample pushes out a uniformly chosen one. The choice of the ``k``-th
sample to leave is a pure function of the seed, ``k`` and the buffer's length (no RNG state), and
:attr:`ShuffleBuffer.slot` says which slot it left from: so a consumer that mirrors pushes and
slots knows the buffer's contents by position, and :meth:`ShuffleBuffer.load` puts a buffer back
exactly as it was after ``drawn`` samples left it (mid-epoch resume).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from aisloader.core.streams.order import mix64

__all__ = ["ShuffleBuffer", "take_slot"]

T = TypeVar("T")


class ShuffleBuffer(Generic[T]):
    """A reservoir of samples bounded by count and bytes (see module docs)."""

    def __init__(self, max_count: int, max_bytes: int, seed: int = 0, drawn: int = 0) -> None:
        self.max_count, self.max_bytes = max_count, max_bytes
        self._key = seed & ((1 << 64) - 1)
        self.drawn = drawn  # samples that left so far
        self.slot = -1  # the slot the last sample left from
        self._items: list[tuple[T, int]] = []
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def load(self, items: Iterable[tuple[T, int]]) -> None:
        """Hold ``items`` (sample, size) in this slot order, as a mirrored buffer was."""
        self._items = list(items)
        self._bytes = sum(size for _, size in self._items)

    def push(self, item: T, size: int) -> Iterator[T]:
        """Add ``item`` (``size`` bytes); yield the items that must leave to keep the bounds."""
        self._items.append((item, size))
        self._bytes += size
        while self._items and (len(self._items) > self.max_count or self._bytes > self.max_bytes):
            yield self._pop()

    def drain(self) -> Iterator[T]:
        """Empty the buffer in random order."""
        while self._items:
            yield self._pop()

    def _pop(self) -> T:
        self.slot = mix64(self._key + self.drawn) % len(self._items)
        self.drawn += 1
        item, size = take_slot(self._items, self.slot)
        self._bytes -= size
        return item


def take_slot(items: list[T], slot: int) -> T:
    """Remove and return ``items[slot]`` in O(1): the last item moves into its slot."""
    items[slot], items[-1] = items[-1], items[slot]
    return items.pop()
