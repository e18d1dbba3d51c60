"""What the client's counters are made of, and how they are summarised (no I/O).

* :class:`Histogram` — latencies in fixed log-spaced buckets: O(1) to record, a fixed 64
  counters whatever the count, and quantiles to within one bucket (about ±12%).
* :func:`cause_of` — why a retry happened, as one of :data:`CAUSES` (the HTTP status, the
  network, a checksum): a small fixed set, so counts by cause fit a fixed row.
* :func:`summary` — counters and a time span → the plain dict ``stats()``/``snapshot()`` give.
* :func:`counted` — an async iterator of lists that tallies the items it lets through (what a
  bridge's producer made, so ``made - taken`` is what waits in the bridge).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any, TypeVar

from aisloader.errors import AISError, ChecksumMismatch, IncompleteRead, TransportError

__all__ = [
    "BUCKETS",
    "CAUSES",
    "Histogram",
    "Tally",
    "bucket_bounds",
    "cause_of",
    "counted",
    "quantile",
    "summary",
]

T = TypeVar("T")

BUCKETS = 64
"""Latency buckets: ``BUCKETS`` fixed counters, three per doubling, from :data:`LOW`."""
LOW = 20e-6
"""Upper bound of the first bucket, in seconds (everything faster lands there); the last
bucket starts at ``LOW * 2**(62/3)`` (about 33 s) and holds everything slower."""
_PER_OCTAVE = 3
_LOG_LOW = math.log2(LOW)

CAUSES = ("429", "500", "502", "503", "504", "network", "checksum", "other")
"""Why a retry happened: a retried HTTP status, the network (refused, reset, timed out, a
body cut short), a checksum mismatch, anything else."""
_SLOT = {name: i for i, name in enumerate(CAUSES)}
NETWORK, CHECKSUM, OTHER = _SLOT["network"], _SLOT["checksum"], _SLOT["other"]


def cause_of(exc: BaseException) -> int:
    """The index in :data:`CAUSES` of why ``exc`` was retried."""
    if isinstance(exc, ChecksumMismatch):
        return CHECKSUM
    if isinstance(exc, AISError):
        return _SLOT.get(str(exc.status), OTHER)
    if isinstance(exc, TransportError | IncompleteRead | OSError):
        return NETWORK
    return OTHER


class Histogram:
    """Durations in :data:`BUCKETS` log-spaced buckets (bounded, O(1) per record)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = array("q", bytes(8 * BUCKETS))

    def record(self, seconds: float) -> None:
        """Count one duration."""
        i = int((math.log2(seconds) - _LOG_LOW) * _PER_OCTAVE) + 1 if seconds > LOW else 0
        self.counts[i if i < BUCKETS else BUCKETS - 1] += 1

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile in seconds (see :func:`quantile`)."""
        return quantile(self.counts, q)

    def clear(self) -> None:
        """Forget every duration (in place)."""
        for i in range(BUCKETS):
            self.counts[i] = 0


def bucket_bounds(i: int) -> tuple[float, float]:
    """``(low, high)`` seconds of bucket ``i`` (the first starts at 0, the last never ends)."""
    low = 0.0 if i == 0 else LOW * 2 ** ((i - 1) / _PER_OCTAVE)
    high = math.inf if i == BUCKETS - 1 else LOW * 2 ** (i / _PER_OCTAVE)
    return low, high


def quantile(counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of bucket ``counts`` in seconds: the geometric middle of the
    bucket it falls in (the first bucket's top, the last bucket's bottom); None when empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank, seen = max(1, math.ceil(q * total)), 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= rank:
            low, high = bucket_bounds(i)
            if i == 0 or i == BUCKETS - 1:
                return high if i == 0 else low
            return math.sqrt(low * high)
    return bucket_bounds(BUCKETS - 1)[0]  # pragma: no cover - counts changed while summed


def summary(
    counters: dict[str, int],
    causes: Sequence[int],
    latency: Sequence[int],
    elapsed: float,
) -> dict[str, Any]:
    """The dict of ``snapshot()``/``stats()``: ``counters`` as they are (``objects``,
    ``bytes``, ``requests``, ``retries``, …), rates over ``elapsed`` seconds
    (``objects_per_s``, ``mb_per_s`` in 10⁶ bytes), latency p50/p99 in ms (None before the
    first object), ``retries_by_cause`` (non-zero causes only) and ``elapsed_s``."""
    out: dict[str, Any] = dict(counters)
    rate = 1.0 / elapsed if elapsed > 0 else 0.0
    out["elapsed_s"] = round(max(elapsed, 0.0), 6)
    out["objects_per_s"] = counters.get("objects", 0) * rate
    out["mb_per_s"] = counters.get("bytes", 0) * rate / 1e6
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        value = quantile(latency, q)
        out[f"latency_{name}_ms"] = None if value is None else round(value * 1e3, 3)
    out["retries_by_cause"] = {c: n for c, n in zip(CAUSES, causes, strict=True) if n}
    return out


class Tally:
    """Items a :func:`counted` iterator let through (written on the loop thread, read from
    any: one int, so a reader sees a recent value)."""

    __slots__ = ("made",)

    def __init__(self) -> None:
        self.made = 0


async def counted(
    source: AsyncGenerator[list[T], None], tally: Tally
) -> AsyncGenerator[list[T], None]:
    """``source``'s lists unchanged, each one's length added to ``tally.made`` as it passes;
    closing this closes ``source``."""
    async with aclosing(source) as lists:
        async for items in lists:
            tally.made += len(items)
            yield items
