"""``Lookahead``: a batch sampler whose batches say what comes next, so a map-style dataset
fetches the next batches while the training step runs.

A DataLoader calls a map-style dataset with one batch at a time and waits for it: with no
worker processes nothing is fetched ahead at all, and a worker fetches its next batch only
after the last one is whole. One object in retry backoff then stalls its whole batch, and
the consumer with it. ``Lookahead`` wraps any batch sampler; each batch it yields (a ``list``
of indices, as before) also carries, in ``.ahead``, the indices of the next ``depth`` batches
the *same consumer* will read: the main process with ``num_workers=0``, else the worker that
gets this batch (a DataLoader deals batches to its workers in turn, so a worker's next batch
is ``num_workers`` batches later). The aisloader map datasets start those reads at once, in
the background of the consuming process, and a batch already on its way is taken from there
(``dataset.stats()["prefetched"]`` counts them).

The dataset checks ``num_workers`` against the DataLoader it runs in (a ``ConfigError`` names
both). A prediction that does not hold otherwise (``in_order=False``) costs reads, never
correctness: a batch is always read for what it is; one not announced is fetched then, and
reads announced but never asked for are dropped once newer ones come (at most ``2 × depth``
batches held per process). A consumer's first batch of a pass drops every read still held,
so a pass that was broken off never serves the next one what it read ahead.

Resume: under ``torchdata``'s ``StatefulDataLoader``, ``state_dict()`` holds the state of the
inner sampler or of its iterator (torchdata's stateful ``BatchSampler``/``RandomSampler`` keep
it there) and the batches already taken from it but not yet handed out, so a resumed loader
yields exactly the batches that were still to come. An inner sampler without any state is
replayed and fast-forwarded, as ``StatefulDataLoader`` does for such a sampler: exact only when
it repeats its order (sequential, or seeded per epoch like ``DistributedSampler``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from torch.utils.data import Sampler

from aisloader.errors import ConfigError

__all__ = ["AheadBatch", "Lookahead"]


class AheadBatch(list[int]):
    """A batch of indices (a ``list``) with ``ahead``, the consumer's next batches,
    ``workers``, the DataLoader worker count they were dealt for, and ``first``: the
    consumer's first batch of a pass (reads announced before it are dropped, never served)."""

    ahead: tuple[tuple[int, ...], ...]
    workers: int
    first: bool

    def __init__(
        self,
        indices: Iterable[int],
        ahead: tuple[tuple[int, ...], ...] = (),
        workers: int = 0,
        first: bool = False,
    ) -> None:
        super().__init__(indices)
        self.ahead, self.workers, self.first = ahead, workers, first

    def __reduce__(self) -> tuple[Any, ...]:
        return (AheadBatch, (list(self), self.ahead, self.workers, self.first))


class Lookahead(Sampler[list[int]]):
    """Wrap ``batch_sampler`` so each batch announces the consumer's next ``depth`` batches.

    Args:
        batch_sampler: any iterable of index lists (``BatchSampler``, ``DynamicBatchSampler``,
            a ``DistributedSampler`` under a ``BatchSampler``, …).
        depth: batches announced ahead per consumer. The dataset holds their objects in
            memory until they are asked for, up to ``ClientConfig.read_ahead_bytes`` (64 MiB)
            by the listing's sizes, and always one batch: large batches are read fewer ahead.
        num_workers: the DataLoader's ``num_workers`` (0: the main process reads).

    Use it as the DataLoader's ``batch_sampler``::

        DataLoader(ds, batch_sampler=Lookahead(BatchSampler(RandomSampler(ds), 64, False),
                   num_workers=4), num_workers=4)

    Raises:
        ConfigError: ``depth`` < 1 or ``num_workers`` < 0.
    """

    def __init__(
        self, batch_sampler: Iterable[Sequence[int]], depth: int = 16, num_workers: int = 0
    ) -> None:
        if depth < 1 or num_workers < 0:
            raise ConfigError(
                f"Lookahead needs depth >= 1 and num_workers >= 0, got {depth}, {num_workers}"
            )
        self.batch_sampler = batch_sampler
        self.depth, self.num_workers = depth, num_workers
        self._inner: Iterator[Sequence[int]] = iter(())  # the inner sampler's, this pass
        self._buffer: deque[list[int]] = deque()  # taken from the inner sampler, not yet out
        self._yielded = 0
        self._pending: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.batch_sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[AheadBatch]:
        stride = max(1, self.num_workers)
        span = self.depth * stride
        inner, buffer = self._start()
        dealt = 0  # batches of this pass handed out (each consumer's first: the first stride)
        while True:
            while len(buffer) <= span:
                batch = next(inner, None)
                if batch is None:
                    break
                buffer.append(list(batch))
            if not buffer:
                return
            batch = buffer.popleft()
            ahead = tuple(
                tuple(buffer[k]) for k in range(stride - 1, min(span, len(buffer)), stride)
            )
            self._yielded += 1
            dealt += 1
            yield AheadBatch(batch, ahead, self.num_workers, dealt <= stride)

    def _start(self) -> tuple[Iterator[Sequence[int]], deque[list[int]]]:
        """The inner iterator and the buffer of a new pass (or of a resumed one)."""
        pending, self._pending = self._pending, None
        self._buffer, self._yielded = deque(), 0
        if pending and pending.get("sampler") is not None:
            self.batch_sampler.load_state_dict(pending["sampler"])  # type: ignore[attr-defined]
        self._inner = inner = iter(self.batch_sampler)
        if not pending:
            return inner, self._buffer
        self._yielded = int(pending["yielded"])
        if pending.get("iterator") is not None:
            inner.load_state_dict(pending["iterator"])  # type: ignore[attr-defined]
        if pending.get("iterator") is None and pending.get("sampler") is None:
            self._inner = inner = islice(inner, self._yielded, None)  # replayed: skip what went
        else:
            self._buffer.extend(list(b) for b in pending["buffered"])
        return inner, self._buffer

    def state_dict(self) -> dict[str, Any]:
        """Where the current pass stands: batches handed out, the state of the inner sampler
        or of its iterator (whichever has one: torchdata's stateful samplers keep it in the
        iterator) and the batches taken from it that are still to be handed out."""
        if self._pending is not None:
            return dict(self._pending)
        iterator = getattr(self._inner, "state_dict", None)
        sampler = getattr(self.batch_sampler, "state_dict", None) if iterator is None else None
        return {
            "yielded": self._yielded,
            "iterator": iterator() if iterator is not None else None,
            "sampler": sampler() if sampler is not None else None,
            "buffered": [list(b) for b in self._buffer],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume the next pass from ``state`` (see :meth:`state_dict`)."""
        self._pending = dict(state)
