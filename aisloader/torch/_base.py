"""What every iterable dataset shares: a core epoch stream, a connection, and the consuming loop.

A dataset is configuration: an unbound :class:`~aisloader.core.streams.base.EpochStream` (the
sources, options, seed and shuffle), a :class:`~aisloader.torch._conn.TorchConn` (endpoint +
config, found from the arguments, the SDK sources' cluster or the environment),
the transform and the rank override. Each ``__iter__`` binds a copy of the stream to this
process's part (rank × DataLoader worker) and epoch, lists once per node if the stream needs the
whole listing (shared through a file by the workers), and reads the stream's lists of items
through the bridge. All async work happens in the core stream; this module only consumes it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from torch.utils.data import IterableDataset
from tqdm import tqdm

from aisloader.config import ClientConfig
from aisloader.core.listing.manifest import Manifest
from aisloader.core.stats import Tally, counted
from aisloader.core.streams.base import EpochStream, skipped_of
from aisloader.core.streams.order import Part
from aisloader.core.streams.shard_cursor import ShardCursor
from aisloader.core.streams.skips import Refill, SkipLog
from aisloader.core.streams.state import choose
from aisloader.errors import ResumeError
from aisloader.padding import mark
from aisloader.torch._cache import SharedManifest
from aisloader.torch._conn import TorchConn
from aisloader.torch._env import current_part, dist_snapshot, world
from aisloader.torch._stats import DatasetStats, WithStats

__all__ = ["EpochIterable", "ResumableIterable"]

_log = logging.getLogger("aisloader.skips")


class EpochIterable(IterableDataset[Any], WithStats):
    """Base of the iterable datasets (see module docs)."""

    def __init__(
        self,
        stream: EpochStream[Any],
        *,
        origin: Any = (),
        client: Any = None,
        endpoint: str | None = None,
        config: ClientConfig | None = None,
        transform: Callable[[Any], Any] | None = None,
        show_progress: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        self._stream = stream
        self._conn = TorchConn(endpoint, config, client, origin)
        self._transform, self._show_progress = transform, show_progress
        self._rank, self._world_size = rank, world_size
        self._snapshot: tuple[int, int] | None = None
        self._epoch, self._iterations = 0, 0
        self._manifest: Manifest | None = None
        self._shared = SharedManifest(uuid.uuid4().hex)
        self._live: EpochStream[Any] | None = None  # the stream of the current iteration
        self._progress: _Progress | None = None  # what this process's iteration delivered
        self._resume: dict[str, Any] | None = None  # a state to continue from (next __iter__)
        self._stats = DatasetStats()  # counters summed over this dataset's processes

    @property
    def _sources(self) -> tuple[Any, ...]:
        return self._stream.sources

    def make_sample(self, item: Any) -> Any:
        """Turn one raw item (after ``transform``) into a sample."""
        return item

    def _apply_transform(self, item: Any) -> Any:
        return item if self._transform is None else self._transform(item)

    def _resume_stream(self, stream: EpochStream[Any], state: Mapping[str, Any]) -> None:
        """Move ``stream`` to where ``state`` left off."""
        stream.resume(state, self.manifest())

    def _take(self, progress: _Progress, item: Any) -> bool:
        """Count one position of the stream; False when it holds no sample to hand out."""
        progress.delivered += 1
        return True

    def _progress_state(self, progress: _Progress) -> dict[str, Any]:
        """The state after what ``progress`` counted."""
        stream = progress.stream
        return stream.state(self.manifest(), stream.skip + progress.delivered)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (shuffle order). Call with the same value on every rank.

        Call it at the start of every epoch, as with ``DistributedSampler``: DataLoader workers
        that are not persistent are new copies of the dataset each epoch, so without this
        call every epoch repeats the same order. With ``persistent_workers=True`` the workers
        do not see this call; each worker's epoch then advances by one per pass from the
        epoch set before the first pass, which matches calling ``set_epoch(0), (1), …``.
        """
        if self._resume is not None and _epoch_of(self._resume) != epoch:
            self._resume = None  # another epoch than the loaded state's: start it afresh
        self._epoch, self._iterations = epoch, 0

    def manifest(self) -> Manifest:
        """The listing, made once per node and cached (lists now if needed)."""
        if self._manifest is None:
            stream = self._stream
            self._manifest = self._shared.get(
                lambda: self._conn.run_short_lived(lambda c: stream.bind(c).manifest())
            )
        return self._manifest

    def _part(self) -> Part:
        rotate = int(self._resume.get("rotate", 0)) if self._resume is not None else 0
        return current_part(self._rank, self._world_size, self._snapshot, rotate)

    def _placed(self, **changes: Any) -> EpochStream[Any]:
        """The stream bound to this process's part and rank count (and ``changes``)."""
        ranks = world(self._rank, self._world_size, self._snapshot)[1]
        return self._stream.bind(part=self._part(), ranks=ranks, **changes)

    def _part_size(self) -> int:
        """Items this rank reads per epoch (all its DataLoader workers together)."""
        return self._placed().part_size(self.manifest())

    def __iter__(self) -> Iterator[Any]:
        stream = self._placed(epoch=self._epoch + self._iterations)
        part = stream.part
        self._iterations += 1
        resume, self._resume = self._resume, None
        if resume is not None:
            self._resume_stream(stream, resume)
        if self._manifest is None and stream.lists_ahead:
            self.manifest()
        stream = stream.bind(manifest=self._manifest)
        progress = self._progress = _Progress(stream)
        tally, rec = Tally(), self._stats.recorder(self._client_stats)
        rec.begin(tally)

        def produce(client: Any) -> Any:
            self._live = stream.bind(client)
            return counted(self._live.batches(), tally)

        lists = self._conn.iterate(produce)
        off = None if self._show_progress else True  # None: shown only on a terminal
        bar = tqdm(desc=f"part {part.index}/{part.count}", unit="sample", disable=off)
        padding = stream.padding_start(self._manifest) if self._manifest is not None else None
        size = stream.part_size(self._manifest) if self._manifest is not None else 0
        progress.skips = SkipLog(stream.skip_budget, size)
        refill = Refill(stream.equal is not None)  # equal counts: a skip is replaced
        try:
            for items in lists:
                rec.took(len(items))
                for item in items:
                    skipped = skipped_of(item)
                    if not self._take(progress, item) or skipped is not None:
                        if skipped is not None:
                            progress.skips.record(skipped)
                        for repeat in refill.skipped():
                            yield self._sample(repeat, bar)
                        continue
                    if padding is not None and stream.skip + progress.delivered > padding:
                        item = mark(item)  # equal="pad": a repeat, marked (is_padding)
                    yield self._sample(item, bar)
                    for repeat in refill.good(item):
                        yield self._sample(repeat, bar)
            refill.close(f"part {part.index}/{part.count}")
            if self._manifest is None and self._live is not None:
                self._manifest = self._live.listed  # later epochs reuse a streamed listing
        finally:
            bar.close()
            lists.close()
            rec.end()
            _report(progress.skips, part)

    def _sample(self, item: Any, bar: Any) -> Any:
        bar.update()
        return self.make_sample(self._apply_transform(item))

    def skip_report(self) -> list[dict[str, Any]]:
        """What this process's current (or last) pass skipped under ``on_error="skip"``:
        ``{"object", "error", "attempts"}`` each (with DataLoader workers, each worker logs
        its own at the end of its pass, on the ``aisloader.skips`` logger)."""
        return self._progress.skips.report() if self._progress is not None else []

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_snapshot"] = dist_snapshot() or self._snapshot
        state["_live"] = state["_progress"] = None
        return state

    def _state_dict(self) -> dict[str, Any]:
        """Where this process's iteration stands (see :meth:`ResumableIterable.state_dict`)."""
        if self._progress is None:  # nothing read here yet: the next iteration's start
            stream = self._placed(epoch=self._epoch + self._iterations)
            if self._resume is None:
                return stream.state(self.manifest(), 0)
            if choose(self._resume, stream.part).get("part") is not None:
                return dict(self._resume)  # this part's own state (or a bundle holding it)
            self._resume_stream(stream, self._resume)  # a merged one: this part's share of it
            return stream.state(self.manifest(), stream.skip)
        progress = self._progress
        return self._progress_state(progress)

    def _load_state_dict(self, state: Mapping[str, Any]) -> None:
        parts = state.get("parts") if isinstance(state, Mapping) else None
        first = parts[0] if isinstance(parts, list) and parts else state
        if not isinstance(first, Mapping) or "epoch" not in first:
            raise ResumeError(f"not an aisloader resume state: {state!r:.200}")
        self._resume = dict(state)
        self._epoch, self._iterations = int(first["epoch"]), 0
        self._progress = None


class _Progress:
    """The stream of this process's current iteration and the items it handed out (a count,
    or for shard streams the cursor that replayed their traces and the last sample's keys)."""

    __slots__ = ("cursor", "delivered", "keys", "skips", "stream")

    def __init__(self, stream: EpochStream[Any]) -> None:
        self.stream, self.delivered = stream, 0
        self.skips = SkipLog(0, 0)
        self.cursor: ShardCursor | None = None
        self.keys: tuple[str, ...] = ()


class ResumableIterable(EpochIterable):
    """An iterable that resumes mid-epoch from its stream's state."""

    counts_positions = True
    """Each item is one position of the stream (so counting batches gives the state)."""

    def state_dict(self) -> dict[str, Any]:
        """Where this process's part of the epoch stands: after the items its iterator has
        handed out (the training loop's consumption, not the prefetch). Small and versioned
        (see :mod:`aisloader.core.streams.state`); torchdata's ``StatefulDataLoader`` collects
        it from every worker. Before any iteration, the start of the next one."""
        return self._state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` at the next iteration: this part's own state (same world
        size and workers: the order of an uninterrupted run), or
        :func:`~aisloader.core.streams.state.merge_states` of all parts' states (any layout:
        what is left of the epoch, re-split, exactly once).

        Raises:
            ResumeError: not a state of this dataset (checked now and at the next iteration).
        """
        self._load_state_dict(state)


def _report(skips: SkipLog, part: Part) -> None:
    if skips.count:
        first = skips.entries[0]
        _log.warning(
            "part %d/%d skipped %d objects this pass (on_error='skip'; skip_report() lists "
            "them); first: %s (%s, %d attempts)",
            part.index,
            part.count,
            skips.count,
            first.uri,
            first.error,
            first.attempts,
        )


def _epoch_of(state: Mapping[str, Any]) -> int:
    parts = state.get("parts")
    return int((parts[0] if parts else state)["epoch"])
