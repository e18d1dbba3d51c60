"""The sample shuffle buffer: pure, bounded by count and bytes.

:class:`ShuffleBuffer` holds at most ``max_count`` samples and ``max_bytes`` bytes; once either
bound is reached, each new sample pushes out a uniformly chosen one (seeded RNG).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["ShuffleBuffer"]

T = TypeVar("T")


class ShuffleBuffer(Generic[T]):
    """A reservoir of samples bounded by count and bytes (see module docs)."""

    def __init__(self, max_count: int, max_bytes: int, seed: int = 0) -> None:
        self.max_count, self.max_bytes = max_count, max_bytes
        self._rng = random.Random(seed)
        self._items: list[tuple[T, int]] = []
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

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
        index = self._rng.randrange(len(self._items))
        self._items[index], self._items[-1] = self._items[-1], self._items[index]
        item, size = self._items.pop()
        self._bytes -= size
        return item
