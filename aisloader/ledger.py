"""A consumption ledger: a cheap digest of which samples a training loop consumed (pure).

Record the keys of every step's samples (object names, or WebDataset ``__url__`` +
``__key__``)::

    ledger = Ledger()
    for step, (names, data) in enumerate(loader):
        ledger.record(names)
        ...
    checkpoint = {"loader": loader.state_dict(), "ledger": ledger.state_dict()}

Two digests are kept, both 64-bit and O(1) in memory:

* :attr:`Ledger.digest` chains the steps in order (within a step the order does not count), so
  50 steps + resume + 50 steps equals an uninterrupted 100 steps exactly when every step saw
  the same samples;
* :attr:`Ledger.multiset` is the sum of the keys' hashes, independent of order and of how the
  samples were split, so the ledgers of all ranks add up (``combine``) to the same value for
  an epoch read on 2 ranks, on 3, or resumed from 2 onto 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import xxhash

__all__ = ["Ledger"]

_MASK = (1 << 64) - 1


class Ledger:
    """See the module docs; picklable, with ``state_dict``/``load_state_dict``."""

    __slots__ = ("digest", "multiset", "samples", "steps")

    def __init__(self) -> None:
        self.steps = 0
        self.samples = 0
        self.digest = 0
        self.multiset = 0

    def record(self, keys: Iterable[Any]) -> int:
        """Add one step's sample keys (strings or bytes); return the step's own digest."""
        hashes = sorted(_hash(key) for key in keys)
        step = xxhash.xxh3_64_intdigest(b"".join(h.to_bytes(8, "little") for h in hashes))
        chained = self.digest.to_bytes(8, "little") + step.to_bytes(8, "little")
        self.digest = xxhash.xxh3_64_intdigest(chained)
        self.multiset = (self.multiset + sum(hashes)) & _MASK
        self.steps += 1
        self.samples += len(hashes)
        return step

    def combine(self, *others: Ledger) -> Ledger:
        """The ledger of several ranks together (``multiset`` and counts add; ``digest`` is
        per rank and is not combined)."""
        out = Ledger()
        for ledger in (self, *others):
            out.steps = max(out.steps, ledger.steps)
            out.samples += ledger.samples
            out.multiset = (out.multiset + ledger.multiset) & _MASK
        return out

    def state_dict(self) -> dict[str, int]:
        """The ledger as plain integers (for a checkpoint)."""
        return {
            "steps": self.steps,
            "samples": self.samples,
            "digest": self.digest,
            "multiset": self.multiset,
        }

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Continue from a checkpoint's ledger."""
        self.steps, self.samples = int(state["steps"]), int(state["samples"])
        self.digest, self.multiset = int(state["digest"]), int(state["multiset"])

    def __repr__(self) -> str:
        return f"Ledger(steps={self.steps}, samples={self.samples}, digest={self.digest:016x})"


def _hash(key: Any) -> int:
    data = key if isinstance(key, bytes) else str(key).encode()
    return xxhash.xxh3_64_intdigest(data)
