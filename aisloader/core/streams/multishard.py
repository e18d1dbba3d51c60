"""Multi-shard streams: several shard sets zipped member by member.

Each source is a set of shards (bucket + prefix); its members, in the cluster's archive-listing
order, form one column. Item ``i`` is the tuple of the ``i``-th member of every column (the
official plugin's ``zip``: the shortest column sets the length), so aligned modalities stored in
separate shards come back together. Items are positions of the epoch like any other stream's —
split across parts and optionally shuffled — and their members are fetched with get-batch
(``archpath`` entries; concurrent GETs on clusters without it).

Under ``on_error="skip"`` a tuple with a member that cannot be read (a missing member or shard,
a corrupt shard) is skipped whole, never handed out in part: it becomes one
``(member_uri, Skipped)`` item naming the first member that failed. The members are then read
with concurrent GETs, a window of tuples at a time, so each failure is pinned to its member and
the stream goes on (one get-batch stream would end at the first failure).
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import aclosing
from typing import Any

from aisloader.core.batch.entry import BatchEntry
from aisloader.core.listing.manifest import Manifest, ManifestBuilder
from aisloader.core.listing.shard_index import list_members
from aisloader.core.stages.window import ordered_window
from aisloader.core.streams.base import EpochStream
from aisloader.core.streams.skips import Skipped, read_or_skipped
from aisloader.errors import ConfigError
from aisloader.etl import Etl, EtlLike
from aisloader.refs import ObjectRef

__all__ = ["MultiShardStream"]


class MultiShardStream(EpochStream[tuple[bytes, ...]]):
    """Tuples ``(bytes_from_source_0, bytes_from_source_1, ...)``; see the module docs.

    Args:
        etls: one server-side ETL (or None) per source, as the SDK's ``DataShard.etl_name``;
            columns with an ETL are read with GETs through it (get-batch applies none).
        **kwargs: as for :class:`~aisloader.core.streams.base.EpochStream`.

    Raises:
        ConfigError: no source, ``etls`` of another length, or a source with no shard members
            (while listing).
    """

    def __init__(
        self, ais_source_list: Any, *, etls: Sequence[EtlLike] = (), **kwargs: Any
    ) -> None:
        super().__init__(ais_source_list, **kwargs)
        columns = [Etl.of(e) for e in etls] or [self.etl] * len(self.sources)
        if len(columns) != len(self.sources):
            raise ConfigError(f"{len(columns)} ETLs for {len(self.sources)} multi-shard sources")
        self.etls = tuple(columns)

    async def _list(self) -> Manifest:
        """The members of every source, source after source, named ``src\\0shard\\0member``."""
        builder = ManifestBuilder()
        for index, source in enumerate(self.sources):
            before = len(builder)
            async for bucket, shard, member, size in list_members(self.client, [source]):
                builder.add(bucket, f"{index}\0{shard}\0{member}", size)
            if len(builder) == before:
                raise ConfigError(f"no shard members under {source.uri}")
        return builder.build()

    def epoch_size(self, manifest: Manifest) -> int:
        """Tuples per epoch: the length of the shortest column."""
        starts = self._starts(manifest)
        ends = [*starts[1:], len(manifest)]
        return min(end - start for start, end in zip(starts, ends, strict=True))

    def _starts(self, manifest: Manifest) -> list[int]:
        """Index of the first member of each column (columns are contiguous, in order)."""
        keys = _ColumnKeys(manifest)
        return [bisect.bisect_left(keys, column) for column in range(len(self.sources))]

    def _nbytes(self, item: tuple[bytes, ...]) -> int:
        return sum(len(data) for data in item if isinstance(data, bytes))

    async def _items(self) -> AsyncGenerator[tuple[bytes, ...], None]:
        manifest = await self.manifest()
        starts = self._starts(manifest)

        def rows() -> Iterator[list[BatchEntry]]:
            for i in self.positions(manifest):
                yield [_entry(manifest, start + i) for start in starts]

        if self.on_error == "skip":
            async with aclosing(self._rows_or_skipped(rows())) as items:
                async for item in items:
                    yield item
            return
        row: list[bytes] = []
        entries = (entry for row_entries in rows() for entry in row_entries)
        async with aclosing(self._read(entries)) as datas:
            async for data in datas:
                row.append(data)
                if len(row) == len(starts):
                    yield tuple(row)
                    row = []

    async def _rows_or_skipped(
        self, rows: Iterator[list[BatchEntry]]
    ) -> AsyncGenerator[tuple[Any, ...], None]:
        """Each row's tuple, or ``(member_uri, Skipped)`` for a row with a member that cannot be
        read; ``config.window`` GETs in flight at most."""
        client, etls = self.client, self.etls

        async def read(row: list[BatchEntry]) -> tuple[Any, ...]:
            values = await read_or_skipped(client, row, etls)
            skipped = next((v for v in values if isinstance(v, Skipped)), None)
            return (skipped.uri, skipped) if skipped is not None else tuple(values)

        cfg = client.config
        window = max(1, cfg.window // len(etls))
        ahead = max(1, cfg.read_ahead // len(etls))
        async with aclosing(ordered_window(rows, read, window, ahead=ahead)) as tuples:
            async for _, item in tuples:
                yield item

    async def _read(self, entries: Iterator[BatchEntry]) -> AsyncGenerator[bytes, None]:
        """The entries' bytes in order: one get-batch stream, or GETs when a column has an ETL
        (the entries cycle through the columns, so entry ``k`` is column ``k % width``)."""
        if not any(self.etls):
            pairs = self.client.get_batch(entries, continue_on_error=False)
            async with aclosing(pairs):
                async for _, data in pairs:
                    yield data  # type: ignore[misc]  # bytes: continue_on_error=False
            return
        width, client = len(self.etls), self.client

        async def get(item: tuple[int, BatchEntry]) -> bytes:
            k, entry = item
            return await client.get(entry.ref, archpath=entry.archpath, etl=self.etls[k % width])

        cfg = client.config
        window = ordered_window(
            enumerate(entries),
            get,
            cfg.window,
            ahead=cfg.read_ahead,
            ahead_bytes=cfg.read_ahead_bytes,
        )
        async with aclosing(window):
            async for _, data in window:
                yield data


def _entry(manifest: Manifest, index: int) -> BatchEntry:
    """The member at ``index`` of the manifest (named ``src\\0shard\\0member``)."""
    _, shard, member = manifest.name(index).split("\0", 2)
    return BatchEntry(ObjectRef(manifest.bucket(index), shard), archpath=member)


class _ColumnKeys:
    """A lazy sequence of the column of each manifest entry, for bisect."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, i: int) -> int:
        return int(self.manifest.name(i).split("\0", 1)[0])

    def __iter__(self) -> Iterator[int]:
        return (self[i] for i in range(len(self)))
