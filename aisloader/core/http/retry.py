"""Retry policy: which failures are retried, and exponential backoff with full jitter.

The policy itself is pure; :class:`Attempts` is the per-operation state the HTTP loop uses
(``await attempts.again(final_error)`` sleeps and returns, or raises ``final_error``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aisloader.config import ClientConfig

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


@dataclass
class Stats:
    """Counters of one client (cumulative; read them, do not write them).

    Attributes:
        requests: HTTP requests sent (every hop and every attempt).
        retries: attempts repeated after a retryable failure.
        redirects: 301/307 answers followed.
        bytes_received: body bytes of object reads handed to the caller.
        errors: failures seen, by class name (retried ones included).
    """

    requests: int = 0
    retries: int = 0
    redirects: int = 0
    bytes_received: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, exc: BaseException) -> None:
        """Count one failure of ``exc``'s class."""
        name = type(exc).__name__
        self.errors[name] = self.errors.get(name, 0) + 1


class Attempts:
    """Retry state of one operation (all its hops and re-reads share it)."""

    __slots__ = ("_start", "_stats", "number", "policy")

    def __init__(self, policy: RetryPolicy, stats: Stats) -> None:
        self.policy = policy
        self._stats = stats
        self._start = time.monotonic()
        self.number = 1

    @property
    def elapsed(self) -> float:
        """Seconds since the operation's first attempt."""
        return time.monotonic() - self._start

    async def again(self, final: BaseException) -> None:
        """Sleep before the next attempt, or raise ``final`` when the budget is spent.

        Raises:
            BaseException: ``final`` itself, once attempts or the time budget run out.
        """
        self._stats.error(final)
        left = self.policy.budget - (time.monotonic() - self._start)
        if self.number >= self.policy.attempts or left <= 0:
            final.add_note(f"gave up after {self.number} attempt(s)")
            raise final
        delay = min(self.policy.delay(self.number), left)
        self.number += 1
        self._stats.retries += 1
        await asyncio.sleep(delay)
