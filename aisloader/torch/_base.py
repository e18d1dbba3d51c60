"""What every iterable dataset shares: sources, connection, epoch, rank × worker part, the
node-shared listing, and the consuming loop (progress bar, transform, ``make_sample``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

from torch.utils.data import IterableDataset
from tqdm import tqdm

from aisloader.config import ClientConfig
from aisloader.core.client import AsyncClient
from aisloader.core.manifest import Manifest
from aisloader.core.order import Part
from aisloader.core.sources import Source, build_manifest, sources
from aisloader.torch._bridge import Conn
from aisloader.torch._cache import SharedManifest
from aisloader.torch._env import current_part, dist_snapshot

__all__ = ["EpochIterable", "ObjectIterable"]


class EpochIterable(IterableDataset[Any]):
    """Base of the iterable datasets (see module docs); subclasses define the listing and the
    async stream of one epoch for one part."""

    def __init__(
        self,
        ais_source_list: Any,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None,
        *,
        client: Any = None,
        endpoint: str | None = None,
        config: ClientConfig | None = None,
        shuffle: bool = False,
        seed: int = 0,
        transform: Callable[[Any], Any] | None = None,
        show_progress: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        self._sources: tuple[Source, ...] = sources(ais_source_list, prefix_map)
        self._conn = Conn(endpoint, config, client)
        self._shuffle, self._seed = shuffle, seed
        self._transform, self._show_progress = transform, show_progress
        self._rank, self._world_size = rank, world_size
        self._snapshot: tuple[int, int] | None = None
        self._epoch, self._iterations = 0, 0
        self._manifest: Manifest | None = None
        self._shared = SharedManifest(uuid.uuid4().hex)

    # --- for subclasses -------------------------------------------------------------------
    async def _list(self, client: AsyncClient) -> Manifest:
        """List the sources into a manifest."""
        raise NotImplementedError

    def _stream(
        self, client: AsyncClient, part: Part, epoch: int, manifest: Manifest | None
    ) -> AsyncIterator[Any]:
        """The raw items of one epoch for one part (runs on the loop thread)."""
        raise NotImplementedError

    def _needs_manifest(self, part: Part) -> bool:
        return part.count > 1 or self._shuffle

    def make_sample(self, item: Any) -> Any:
        """Turn one raw item (after ``transform``) into a sample."""
        return item

    def _unpack(self, items: Iterator[Any]) -> Iterator[Any]:
        """The raw items in what the bridge delivers (a subclass that sends lists flattens)."""
        return items

    def _apply_transform(self, item: Any) -> Any:
        return item if self._transform is None else self._transform(item)

    # --- public ---------------------------------------------------------------------------
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
            self._manifest = self._shared.get(lambda: self._conn.run_short_lived(self._list))
        return self._manifest

    def _part(self) -> Part:
        return current_part(self._rank, self._world_size, self._snapshot)

    def __iter__(self) -> Iterator[Any]:
        part = self._part()
        epoch = self._epoch + self._iterations
        self._iterations += 1
        if self._manifest is None and self._needs_manifest(part):
            self.manifest()
        manifest = self._manifest

        async def produce(client: AsyncClient) -> AsyncIterator[Any]:
            stream = self._stream(client, part, epoch, manifest)
            try:
                async for item in stream:
                    yield item
            finally:
                await stream.aclose()  # type: ignore[attr-defined]

        items = self._conn.iterate(produce)
        desc = f"part {part.index}/{part.count}"
        bar = tqdm(desc=desc, unit="sample", disable=not self._show_progress)
        try:
            for item in self._unpack(items):
                bar.update()
                yield self.make_sample(self._apply_transform(item))
        finally:
            bar.close()
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_snapshot"] = dist_snapshot() or self._snapshot
        return state


class ObjectIterable(EpochIterable):
    """An iterable over the objects of the sources: items are ``(object_name, data)``, and
    ``transform`` applies to the data."""

    def __len__(self) -> int:
        """Objects this rank reads per epoch (all its DataLoader workers together)."""
        part = self._part()
        return len(range(part.index, len(self.manifest()), part.count))

    async def _list(self, client: AsyncClient) -> Manifest:
        page_size = client.config.list_page_size or None
        return await build_manifest(client, self._sources, page_size=page_size)

    def _apply_transform(self, item: Any) -> Any:
        name, data = item
        return (name, data) if self._transform is None else (name, self._transform(data))
