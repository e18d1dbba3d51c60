"""The batches a map-style dataset reads ahead in one process, as a
:class:`~aisloader.torch.lookahead.Lookahead` batch announced them.

Reads run on the process's loop thread while the consumer works; a batch asked for is taken
from here when its read was started (finished or not), else read then. The batches held are
bounded in bytes (by the listing's sizes: ``ClientConfig.read_ahead_bytes``; one batch always)
and in count (twice the batches announced at once: an older one is cancelled when a newer one
comes, a prediction that did not hold). The holder pickles empty and starts empty in a forked
child (its reads belong to the parent's loop).
"""

from __future__ import annotations

import concurrent.futures
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from torch.utils.data import get_worker_info

from aisloader.errors import ConfigError

if TYPE_CHECKING:
    from aisloader.core.client import AsyncClient
    from aisloader.torch._conn import TorchConn
    from aisloader.torch._stats import Recorder

Read = Callable[["AsyncClient"], Awaitable[Any]]
"""One batch's read, as a call on the client."""

__all__ = ["Prefetch", "Read", "check_workers", "read_batch"]

Key = tuple[int, ...]


class Prefetch:
    """Reads of announced batches, by their indices (module docs)."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._reads: OrderedDict[Key, concurrent.futures.Future[Any]] = OrderedDict()
        self._weights: dict[Key, int] = {}  # each read's bytes, by the listing
        self._bytes = 0

    def __reduce__(self) -> tuple[Any, ...]:
        return (Prefetch, ())

    def take(self, indices: Sequence[int]) -> concurrent.futures.Future[Any] | None:
        """The read started for exactly this batch, if any (removed from here)."""
        self._own()
        if not self._reads:
            return None
        key = tuple(indices)
        self._bytes -= self._weights.pop(key, 0)
        return self._reads.pop(key, None)

    def announce(
        self,
        batches: Iterable[Sequence[int]],
        start: Callable[[Key], concurrent.futures.Future[Any]],
        weigh: Callable[[Key], int],
        budget: int,
    ) -> None:
        """Start the reads of ``batches`` not started yet (``start(key)`` starts one) while the
        batches held weigh less than ``budget`` bytes (``weigh(key)``: by the listing; one
        batch is always allowed); keep at most twice as many as announced now, cancelling
        the oldest."""
        self._own()
        count = 0
        for batch in batches:
            count += 1
            key = tuple(batch)
            if not key or key in self._reads:
                continue
            weight = weigh(key)
            if self._reads and self._bytes + weight > budget:
                break  # the later batches are further ahead still
            self._reads[key] = start(key)
            self._weights[key] = weight
            self._bytes += weight
        while len(self._reads) > 2 * max(count, 1):
            key, stale = self._reads.popitem(last=False)
            self._bytes -= self._weights.pop(key, 0)
            stale.cancel()

    def clear(self) -> None:
        """Cancel and forget every read started."""
        self._own()
        for read in self._reads.values():
            read.cancel()
        self._reads.clear()
        self._weights.clear()
        self._bytes = 0

    def _own(self) -> None:
        if self._pid != os.getpid():  # a forked child: the parent's reads are not ours
            self._pid, self._reads, self._weights, self._bytes = os.getpid(), OrderedDict(), {}, 0


def check_workers(announced: int) -> None:
    """Check that the batches were dealt for this DataLoader's worker count.

    Raises:
        ConfigError: ``Lookahead(num_workers=...)`` differs from the DataLoader's.
    """
    info = get_worker_info()
    actual = info.num_workers if info is not None else 0
    if announced != actual:
        raise ConfigError(
            f"Lookahead(num_workers={announced}) but the DataLoader runs {actual} worker(s): "
            f"pass the DataLoader's num_workers to Lookahead (it predicts each worker's next "
            f"batches from it)"
        )


def read_batch(
    prefetch: Prefetch,
    conn: TorchConn,
    indices: Sequence[int],
    read: Callable[[Sequence[int]], Read],
    weigh: Callable[[Key], int],
    rec: Recorder,
) -> Any:
    """What ``read(indices)`` gives for one batch: taken from a read a
    :class:`~aisloader.torch.Lookahead` batch started earlier, else read now; the batches this
    one announces (``indices.ahead``) start reading first, within
    ``ClientConfig.read_ahead_bytes`` by ``weigh``.

    Raises:
        ConfigError: the batch was dealt for another worker count than this DataLoader's.
        Exception: what the read raises.
    """
    ahead = getattr(indices, "ahead", None)
    if ahead is not None:
        check_workers(indices.workers)  # type: ignore[attr-defined]
        if indices.first:  # type: ignore[attr-defined]
            prefetch.clear()  # a new pass: what an abandoned one announced is not served
    started = prefetch.take(indices)
    if ahead:
        budget = conn.config.read_ahead_bytes
        prefetch.announce(ahead, lambda key: conn.submit(read(key)), weigh, budget)
    if started is not None:
        rec.prefetched += 1
        return conn.wait(started)
    return conn.call(read(indices))
