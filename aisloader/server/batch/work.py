"""Get-batch work items: registered by the proxy, consumed once by the designated target (DT).

Stands in for AIS phase 1 (the proxy's intra-cluster POST to the DT). The proxy's parsed
request travels in the work item (`Parsed`), so the DT, which still reads the body the client
re-sends, parses it again only when it differs from what the proxy saw. Bounded: at most
`MAX_PENDING` unconsumed items per target (more gives 429, as DT admission does) and items not
claimed within `TTL` seconds are dropped (AIS: about 5 min; shorter here so a test run that
abandons redirects is not throttled for long).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import xxhash

from aisloader.server.batch.request import BatchReq
from aisloader.server.errors import EmuError
from aisloader.server.names import BucketId

__all__ = [
    "MAX_PENDING",
    "PARSED_BUDGET",
    "TTL",
    "Parsed",
    "WorkItem",
    "WorkRegistry",
]

MAX_PENDING = 256
TTL = 60.0
PARSED_BUDGET = 64 << 20  # parses are kept for pending items whose bodies add up to this much
_MAX_SEEN = 100_000  # bound on remembered per-request occurrence counters


class Parsed:
    """A request the proxy parsed, kept by body digest (not the body: items wait up to `TTL`)."""

    __slots__ = ("_default", "_digest", "_req", "_size")

    def __init__(self, raw: bytes, default: BucketId | None, req: BatchReq) -> None:
        self._digest = xxhash.xxh3_128_intdigest(raw)
        self._size = len(raw)
        self._default = default
        self._req = req

    @property
    def size(self) -> int:
        """Length of the body that was parsed."""
        return self._size

    def take(self, raw: bytes, default: BucketId | None) -> BatchReq | None:
        """The parsed request if ``raw`` and ``default`` are what the proxy parsed, else None."""
        same = len(raw) == self._size and default == self._default
        return self._req if same and xxhash.xxh3_128_intdigest(raw) == self._digest else None


@dataclass(frozen=True)
class WorkItem:
    """One registered batch: the DT that must serve it and when it was registered.

    ``parsed`` is the request as the registering proxy parsed it, when it passed one.
    """

    wid: str
    tid: str
    created: float
    parsed: Parsed | None = None


@dataclass
class WorkRegistry:
    """Pending work items, keyed by work id (thread-safe).

    Work ids are derived from ``(seed, request key, body, n-th occurrence)``: unique, and the
    same from run to run for the same sequence of requests (reproducible URLs in logs).
    """

    seed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _items: dict[str, WorkItem] = field(default_factory=dict)
    _seen: dict[int, int] = field(default_factory=dict)
    _rng: random.Random | None = None
    _held: int = 0  # body bytes of the parses that pending items keep

    def pick(self, n: int) -> int:
        """A seeded-random index in ``range(n)`` (coloc=0 DT choice)."""
        with self._lock:
            if self._rng is None:
                self._rng = random.Random(self.seed)
            return self._rng.randrange(n)

    def register(self, tid: str, key: str, body: bytes, parsed: Parsed | None = None) -> str:
        """Register a batch for target ``tid``; return its work id.

        ``parsed`` is kept with the item unless pending items already keep parses of
        `PARSED_BUDGET` bytes of body (the DT then parses the body itself).

        Raises:
            EmuError: 429 when ``tid`` already has `MAX_PENDING` unclaimed items.
        """
        now = time.monotonic()
        h = xxhash.xxh64_intdigest(body, seed=self.seed) ^ xxhash.xxh64_intdigest(key.encode())
        with self._lock:
            self._expire(now)
            if sum(1 for w in self._items.values() if w.tid == tid) >= MAX_PENDING:
                raise EmuError(
                    429, f"t[{tid}]: too many pending get-batch requests", "ErrTooManyRequests"
                )
            if len(self._seen) >= _MAX_SEEN:
                self._seen.clear()
            n = self._seen.get(h, 0)
            self._seen[h] = n + 1
            wid = xxhash.xxh64_hexdigest(f"{self.seed}/{h}/{n}".encode())
            while wid in self._items:  # only after a _seen reset
                wid = xxhash.xxh64_hexdigest(wid.encode())
            if parsed is not None and self._held + parsed.size > PARSED_BUDGET:
                parsed = None
            self._held += parsed.size if parsed else 0
            self._items[wid] = WorkItem(wid, tid, now, parsed)
            return wid

    def claim(self, wid: str, tid: str) -> WorkItem:
        """Consume work item ``wid`` on target ``tid`` (single use).

        Raises:
            EmuError: 400 when the item is unknown, already claimed, expired, or belongs to
                another target.
        """
        with self._lock:
            self._expire(time.monotonic())
            item = self._items.get(wid)
            if item is None or item.tid != tid:
                raise EmuError(
                    400,
                    f"t[{tid}]: get-batch work item {wid!r} not found "
                    "(already served, expired, or not registered for this target)",
                )
            self._drop(wid)
            return item

    def _expire(self, now: float) -> None:
        old = [k for k, w in self._items.items() if now - w.created > TTL]
        for k in old:
            self._drop(k)

    def _drop(self, wid: str) -> None:
        parsed = self._items.pop(wid).parsed
        self._held -= parsed.size if parsed else 0
