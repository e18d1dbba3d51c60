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

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import IterableDataset
from tqdm import tqdm

from aisloader.config import ClientConfig
from aisloader.core.listing.manifest import Manifest
from aisloader.core.streams.base import EpochStream
from aisloader.core.streams.order import Part
from aisloader.torch._cache import SharedManifest
from aisloader.torch._conn import TorchConn
from aisloader.torch._env import current_part, dist_snapshot

__all__ = ["EpochIterable", "ObjectIterable"]


class EpochIterable(IterableDataset[Any]):
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

    @property
    def _sources(self) -> tuple[Any, ...]:
        return self._stream.sources

    def make_sample(self, item: Any) -> Any:
        """Turn one raw item (after ``transform``) into a sample."""
        return item

    def _apply_transform(self, item: Any) -> Any:
        return item if self._transform is None else self._transform(item)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (shuffle order). Call with the same value on every rank.

        Call it at the start of every epoch, as with ``DistributedSampler``: DataLoader workers
        that are not persistent are new copies of the dataset each epoch, so without this
        call every epoch repeats the same order. With ``persistent_workers=True`` the workers
        do not see this call; each worker's epoch then advances by one per pass from the
        epoch set before the first pass, which matches calling ``set_epoch(0), (1), …``.
        """
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
        return current_part(self._rank, self._world_size, self._snapshot)

    def _part_size(self) -> int:
        """Items this rank reads per epoch (all its DataLoader workers together)."""
        return self._stream.bind(part=self._part()).part_size(self.manifest())

    def __iter__(self) -> Iterator[Any]:
        part = self._part()
        stream = self._stream.bind(part=part, epoch=self._epoch + self._iterations)
        self._iterations += 1
        if self._manifest is None and stream.lists_ahead:
            self.manifest()
        stream = stream.bind(manifest=self._manifest)

        def produce(client: Any) -> Any:
            self._live = stream.bind(client)
            return self._live.batches()

        lists = self._conn.iterate(produce)
        bar = tqdm(
            desc=f"part {part.index}/{part.count}", unit="sample", disable=not self._show_progress
        )
        try:
            for items in lists:
                for item in items:
                    bar.update()
                    yield self.make_sample(self._apply_transform(item))
            if self._manifest is None and self._live is not None:
                self._manifest = self._live.listed  # later epochs reuse a streamed listing
        finally:
            bar.close()
            lists.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_snapshot"] = dist_snapshot() or self._snapshot
        state["_live"] = None
        return state


class ObjectIterable(EpochIterable):
    """An iterable over the objects of the sources: items are ``(object_name, data)``, and
    ``transform`` applies to the data."""

    def __len__(self) -> int:
        """Objects this rank reads per epoch (all its DataLoader workers together)."""
        return self._part_size()

    def _apply_transform(self, item: Any) -> Any:
        name, data = item
        return (name, data) if self._transform is None else (name, self._transform(data))
