"""Object streams over sources: the async engine behind every object dataset.

:class:`ObjectStream` reads every object of its sources once per epoch, split by :class:`Part`
(rank × worker) and optionally shuffled by a seeded :class:`Permutation`, through the client's
bounded ``get_many`` window. It is also the public async API for custom trainers::

    async with AsyncClient() as client:
        stream = ObjectStream("ais://bucket/train/", client=client, shuffle=True, seed=1)
        stream.set_epoch(3)
        async for name, data in stream:
            ...

When the stream is alone (one part) and unshuffled, listing pages flow straight into the fetch
window, so the first objects arrive before the listing ends; the listing is recorded into a
manifest as it goes and later epochs reuse it instead of listing again.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from aisloader.core.manifest import Manifest, ManifestBuilder
from aisloader.core.order import Part, Permutation, part_positions
from aisloader.core.sources import Source, build_manifest, iter_entries, nothing_matched, sources
from aisloader.errors import ConfigError
from aisloader.refs import ObjectRef

if TYPE_CHECKING:
    from aisloader.core.client import AsyncClient

__all__ = ["BATCH_BYTES", "BATCH_COUNT", "ObjectStream", "epoch_refs"]

BATCH_COUNT = 16  # objects per list from ObjectStream.batches()
BATCH_BYTES = 256 << 10  # a list closes once it holds this many bytes


def epoch_refs(
    manifest: Manifest, part: Part, *, epoch: int = 0, seed: int = 0, shuffle: bool = False
) -> Iterator[ObjectRef]:
    """The refs ``part`` reads in ``epoch``: a seeded permutation, dealt round-robin."""
    perm = Permutation(len(manifest), seed, epoch, shuffle=shuffle)
    for position in part_positions(len(manifest), part):
        yield manifest.ref(perm[position])


class ObjectStream:
    """Every object of the sources, once per epoch, as ``(name, bytes)``; see module docs."""

    def __init__(
        self,
        ais_source_list: Any,
        *,
        client: AsyncClient,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        shuffle: bool = False,
        seed: int = 0,
        part: Part | None = None,
        window: int | None = None,
        manifest: Manifest | None = None,
    ) -> None:
        self.sources: tuple[Source, ...] = sources(ais_source_list, prefix_map)
        self.client = client
        self.shuffle = shuffle
        self.seed = seed
        self.part = part or Part()
        self.window = window
        self.epoch = 0
        self._manifest = manifest

    @property
    def listed(self) -> Manifest | None:
        """The manifest once the sources have been listed (None before)."""
        return self._manifest

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch (the shuffle order); same value on every rank gives one order."""
        self.epoch = epoch

    async def manifest(self) -> Manifest:
        """The listing of all sources, made once and cached.

        Raises:
            ConfigError: the sources matched no object.
            BucketNotFound: a bucket does not exist.
        """
        if self._manifest is None:
            self._manifest = await build_manifest(
                self.client, self.sources, page_size=self.client.config.list_page_size or None
            )
        return self._manifest

    async def refs(self) -> AsyncGenerator[ObjectRef, None]:
        """The refs this stream reads this epoch, in order."""
        if self._manifest is None and self.part.count == 1 and not self.shuffle:
            async with aclosing(self._list_and_record()) as listed:
                async for ref in listed:
                    yield ref
            return
        manifest = await self.manifest()
        for ref in epoch_refs(
            manifest, self.part, epoch=self.epoch, seed=self.seed, shuffle=self.shuffle
        ):
            yield ref

    def __aiter__(self) -> AsyncGenerator[tuple[str, bytes], None]:
        return self._items()

    async def batches(
        self, max_count: int = BATCH_COUNT, max_bytes: int = BATCH_BYTES
    ) -> AsyncGenerator[list[tuple[str, bytes]], None]:
        """The same pairs in the same order, as lists of up to ``max_count`` pairs that close
        once they hold ``max_bytes`` (a consumer in another thread then pays one cross-thread
        hop per list instead of one per object)."""
        batch: list[tuple[str, bytes]] = []
        size = 0
        async with aclosing(self._items()) as items:
            async for name, data in items:
                batch.append((name, data))
                size += len(data)
                if len(batch) >= max_count or size >= max_bytes:
                    yield batch
                    batch, size = [], 0
        if batch:
            yield batch

    async def _items(self) -> AsyncGenerator[tuple[str, bytes], None]:
        # Close every generator of the chain here, in order: left to the garbage collector, an
        # async generator's cleanup would run later as an orphan task on the loop.
        async with (
            aclosing(self.refs()) as refs,
            aclosing(self.client.get_many(refs, window=self.window)) as pairs,
        ):
            async for ref, data in pairs:
                yield ref.name, data

    async def _list_and_record(self) -> AsyncGenerator[ObjectRef, None]:
        builder = ManifestBuilder()
        page_size = self.client.config.list_page_size or None
        entries = iter_entries(self.client, self.sources, page_size=page_size)
        async with aclosing(entries):
            async for bucket, name, size in entries:
                builder.add(bucket, name, size)
                yield ObjectRef(bucket, name)
        if not len(builder):
            raise ConfigError(nothing_matched(self.sources))
        self._manifest = builder.build()
