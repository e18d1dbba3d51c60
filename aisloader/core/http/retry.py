"""Retry policy: which failures are retried, and exponential backoff with full jitter; the
client's counters.

The policy itself is pure; :class:`Attempts` is the per-operation state the HTTP loop uses
(``await attempts.again(final_error)`` sleeps and returns, or raises ``final_error``), and
where an object read reports its progress into :class:`Stats` (in flight, completed, latency).
"""

from __future__ import annotations

import asyncio
import random
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aisloader.config import ClientConfig
from aisloader.core.stats import CAUSES, Histogram, cause_of, summary

__all__ = ["RETRY_STATUSES", "Attempts", "RetryPolicy", "Stats"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses that are retried (never any other 4xx)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, how long between them, how long in total.

    Attributes:
        attempts: attempts per operation, the first included.
        base: first backoff ceiling in seconds (doubles per retry).
        cap: largest backoff ceiling in seconds.
        budget: total seconds an operation may spend before giving up.
    """

    attempts: int = 16
    base: float = 0.05
    cap: float = 2.0
    budget: float = 120.0

    @classmethod
    def from_config(cls, config: ClientConfig) -> RetryPolicy:
        """The policy described by ``config``."""
        return cls(
            config.retry_attempts, config.backoff_base, config.backoff_cap, config.retry_budget
        )

    def ceiling(self, retry: int) -> float:
        """Upper bound of the sleep before retry number ``retry`` (1-based)."""
        return min(self.cap, self.base * 2.0 ** min(retry - 1, 60))

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Full-jitter backoff: uniform in ``[0, ceiling(retry))``."""
        return rand() * self.ceiling(retry)


@dataclass(slots=True)
class Stats:
    """Counters of one client (cumulative since it was made or :meth:`reset`; read them, do not
    write them). :meth:`snapshot` gives them as a plain dict, with rates and latency quantiles.

    Recording costs a few integer adds per request and one bucket increment per object: no
    allocation, no lock (everything runs on the client's event loop).

    Attributes:
        requests: HTTP requests sent (every hop and every attempt).
        retries: attempts repeated after a retryable failure.
        redirects: 301/307 answers followed.
        bytes_received: body bytes of object reads handed to the caller.
        errors: failures seen, by class name (retried ones included).
        objects: object reads completed: a GET body read to its end (a range or an archive
            member counts as one, so a large object read as concurrent ranges counts once
            per range), or one get-batch entry.
        in_flight: object reads open now (a gauge: not reset).
        in_flight_bytes: bytes already received by the object reads open now (a gauge).
        causes: retries by cause, indexed like :data:`~aisloader.core.stats.CAUSES`
            (:attr:`by_cause` names them).
        latency: time of each object GET from its first request to its last byte, retries
            included (a streamed read ends when its consumer has read it all).
        started: ``time.monotonic()`` when counting started (made, or the last reset).
        generation: how many times :meth:`reset` ran.
    """

    requests: int = 0
    retries: int = 0
    redirects: int = 0
    bytes_received: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    in_flight: int = 0
    in_flight_bytes: int = 0
    causes: array[int] = field(default_factory=lambda: array("q", bytes(8 * len(CAUSES))))
    latency: Histogram = field(default_factory=Histogram)
    started: float = field(default_factory=time.monotonic)
    generation: int = 0

    def error(self, exc: BaseException) -> None:
        """Count one failure of ``exc``'s class."""
        name = type(exc).__name__
        self.errors[name] = self.errors.get(name, 0) + 1

    def retried(self, exc: BaseException) -> None:
        """Count one retry after ``exc``, by its cause."""
        self.retries += 1
        self.causes[cause_of(exc)] += 1

    @property
    def by_cause(self) -> dict[str, int]:
        """Retries by cause (``"503"``, ``"network"``, ``"checksum"``, …), non-zero only."""
        return {name: n for name, n in zip(CAUSES, self.causes, strict=True) if n}

    def counters(self) -> dict[str, int]:
        """The cumulative counts by name (``errors`` as a total)."""
        return {
            "objects": self.objects,
            "bytes": self.bytes_received,
            "requests": self.requests,
            "retries": self.retries,
            "redirects": self.redirects,
            "errors": sum(self.errors.values()),
        }

    def snapshot(self) -> dict[str, Any]:
        """The counters as a plain dict, with rates over the time since :attr:`started`:
        ``objects``, ``bytes``, ``requests``, ``retries``, ``redirects``, ``errors`` (a total),
        ``objects_per_s``, ``mb_per_s`` (10⁶ bytes), ``latency_p50_ms``/``latency_p99_ms``
        (None before the first object), ``retries_by_cause``, ``in_flight``,
        ``in_flight_bytes`` and ``elapsed_s``."""
        out = summary(
            self.counters(), self.causes, self.latency.counts, time.monotonic() - self.started
        )
        out["in_flight"], out["in_flight_bytes"] = self.in_flight, self.in_flight_bytes
        return out

    def reset(self) -> None:
        """Start counting again from zero now (the in-flight gauges stay as they are)."""
        self.requests = self.retries = self.redirects = self.bytes_received = self.objects = 0
        self.errors.clear()
        for i in range(len(self.causes)):
            self.causes[i] = 0
        self.latency.clear()
        self.started = time.monotonic()
        self.generation += 1


class Attempts:
    """Retry state of one operation (all its hops and re-reads share it).

    An object read also reports its progress here (:meth:`track`, :meth:`received`,
    :meth:`finished`): the in-flight gauges, the objects completed and their latency.
    """

    __slots__ = ("_held", "_quick", "_start", "_stats", "number", "policy")

    def __init__(self, policy: RetryPolicy, stats: Stats) -> None:
        self.policy = policy
        self._stats = stats
        self._start = time.monotonic()
        self._held = -1  # bytes received by a tracked object read; -1: not one (or ended)
        self._quick = False  # the one retry without a backoff was taken
        self.number = 1

    @property
    def elapsed(self) -> float:
        """Seconds since the operation's first attempt."""
        return time.monotonic() - self._start

    def track(self) -> None:
        """Count this operation as an object read in flight until :meth:`finished`."""
        if self._held < 0:
            self._held = 0
            self._stats.in_flight += 1

    def received(self, n: int) -> None:
        """Count ``n`` body bytes handed to the caller."""
        stats = self._stats
        stats.bytes_received += n
        if self._held >= 0:
            self._held += n
            stats.in_flight_bytes += n

    def finished(self, ok: bool) -> None:
        """End a tracked read (idempotent): completed (``ok``: counted, its latency recorded)
        or abandoned (an error, a cancellation, a consumer that stopped early)."""
        held, self._held = self._held, -1
        if held < 0:
            return
        stats = self._stats
        stats.in_flight -= 1
        stats.in_flight_bytes -= held
        if ok:
            stats.objects += 1
            stats.latency.record(time.monotonic() - self._start)

    async def again(self, final: BaseException, *, at_once: bool = False) -> None:
        """Sleep before the next attempt, or raise ``final`` when the budget is spent.

        ``at_once``: the failure was a connection cut after the server answered (a body cut
        short, a reset of a kept-alive connection), which says nothing about the server's
        load: the first such retry of an operation goes without a backoff (a straggler less
        for the ordered readers behind it); every other retry backs off. 429 and 5xx, the
        server's own "slow down", always back off.

        Raises:
            BaseException: ``final`` itself, once attempts or the time budget run out.
        """
        self._stats.error(final)
        left = self.policy.budget - (time.monotonic() - self._start)
        if self.number >= self.policy.attempts or left <= 0:
            final.add_note(f"gave up after {self.number} attempt(s)")
            raise final
        quick = at_once and not self._quick
        self._quick = self._quick or quick
        delay = 0.0 if quick else min(self.policy.delay(self.number), left)
        self.number += 1
        self._stats.retried(final)
        await asyncio.sleep(delay)
