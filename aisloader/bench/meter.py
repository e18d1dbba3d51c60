"""Measuring one benchmark cell: throughput, latency percentiles, first sample, peak RSS."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

__all__ = ["Meter", "peak_rss_mb", "percentile"]

_MAX_LATENCIES = 1_000_000  # bound on stored latency samples


def peak_rss_mb() -> float:
    """Peak RSS of this process plus the largest finished child (DataLoader workers), MiB.

    The own peak is ``VmHWM`` (this process image only: ``ru_maxrss`` would carry over the
    peak of the parent that started this cell across ``exec``). Children are added whole, so
    with workers this is an upper bound (they share pages with their parent).
    """
    own_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    own_kib = int(line.split()[1])
                    break
    except OSError:
        pass
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own_kib + children) / 1024.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100.0 * len(ordered)) - 1))
    return ordered[rank]


@dataclass
class Meter:
    """Counts items and bytes; per-item latency is either measured per request (``latency``)
    or, for loaders, the consumer-side gap between deliveries spread over the items delivered."""

    started: float = field(default_factory=time.perf_counter)
    created: float = field(default_factory=time.perf_counter)
    first: float | None = None
    last: float | None = None
    objects: int = 0
    nbytes: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    waited: float = 0.0  # seconds the consumer waited for batches (a loader's)
    ended: float | None = None  # a loader's pass ended (its last step included)

    def restart(self) -> None:
        """Start the throughput clock (construction time still counts for first sample)."""
        self.started = self.last = time.perf_counter()

    def delivered(self, items: int, nbytes: int) -> None:
        """``items`` samples of ``nbytes`` bytes arrived at the consumer now."""
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        if self.last is not None and items and len(self.latencies_ms) < _MAX_LATENCIES:
            gap = (now - self.last) * 1000.0 / items
            self.latencies_ms.extend([gap] * items)
        self.last = now
        self.objects += items
        self.nbytes += nbytes

    def finished(self) -> None:
        """The consumer's pass ended now (after its last step)."""
        self.ended = time.perf_counter()

    def latency(self, ms: float) -> None:
        """Record a measured per-request latency."""
        if len(self.latencies_ms) < _MAX_LATENCIES:
            self.latencies_ms.append(ms)

    def summary(self) -> dict[str, float | int]:
        """The measured fields of a result record."""
        seconds = max(1e-9, (self.last or time.perf_counter()) - self.started)
        wall = max(1e-9, (self.ended or time.perf_counter()) - self.started)
        return {
            "objects": self.objects,
            "seconds": round(seconds, 4),
            "objects_per_s": round(self.objects / seconds, 1),
            "mb_per_s": round(self.nbytes / seconds / 1e6, 2),
            "p50_ms": round(percentile(self.latencies_ms, 50), 3),
            "p99_ms": round(percentile(self.latencies_ms, 99), 3),
            "first_sample_s": round((self.first or self.created) - self.created, 4),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "wait_pct": round(100.0 * self.waited / wall, 1) if self.ended else 0.0,
        }
