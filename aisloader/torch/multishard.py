"""``AISMultiShardStream``: several shard sets zipped member by member (the plugin's name).

Each data source is a set of shards (bucket + prefix); its stream is every member of every
shard, in the cluster's archive-listing order. Item ``i`` is the tuple of the ``i``-th member of
each source (the plugin's ``zip``), so aligned modalities stored in separate shards come back
together. Unlike the plugin, the tuples are split across ranks × DataLoader workers in
contiguous blocks (each tuple exactly once), and members are fetched concurrently (get-batch
when the cluster has it) instead of one blocking GET each.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aisloader.core.batch import BatchEntry, get_batch
from aisloader.core.client import AsyncClient
from aisloader.core.manifest import Manifest, ManifestBuilder
from aisloader.core.order import Part
from aisloader.core.shard_index import list_members
from aisloader.core.sources import Source, sources
from aisloader.errors import ConfigError
from aisloader.refs import Bucket, ObjectRef
from aisloader.torch._base import EpochIterable

__all__ = ["AISMultiShardStream"]


class AISMultiShardStream(EpochIterable):
    """Tuples ``(bytes_from_source_0, bytes_from_source_1, ...)``; see the module docs.

    Args:
        data_sources: one entry per stream: an ``ais://bucket/prefix`` string, a Bucket, or an
            official SDK ``DataShard`` (``bucket_name``, ``provider``, ``prefix``).
        client / endpoint / config / transform / show_progress / rank / world_size: as for the
            other datasets (an SDK ``DataShard`` also supplies the endpoint).

    Raises:
        ConfigError: fewer than one source, an unknown source, or a source with no members.
    """

    def __init__(self, data_sources: Sequence[Any], **kwargs: Any) -> None:
        if not data_sources:
            raise ConfigError("AISMultiShardStream needs at least one data source")
        converted = [_convert(ds) for ds in data_sources]
        if "endpoint" not in kwargs and "client" not in kwargs:
            urls = [getattr(ds, "client_url", None) for ds in data_sources]
            kwargs["endpoint"] = next((u for u in urls if u), None)
        super().__init__(converted, None, **kwargs)

    def _needs_manifest(self, part: Part) -> bool:
        return True

    async def _list(self, client: AsyncClient) -> Manifest:
        """The members of every source, source after source, named ``src\0shard\0member``."""
        builder = ManifestBuilder()
        for index, source in enumerate(self._sources):
            before = len(builder)
            async for bucket, shard, member, size in list_members(client, [source]):
                builder.add(bucket, f"{index}\0{shard}\0{member}", size)
            if len(builder) == before:
                raise ConfigError(f"no shard members under {source.uri}")
        return builder.build()

    def __len__(self) -> int:
        manifest = self.manifest()
        starts = _starts(manifest, len(self._sources))
        return len(_block(_tuples(starts, len(manifest)), self._part()))

    async def _stream(
        self, client: AsyncClient, part: Part, epoch: int, manifest: Manifest | None
    ) -> AsyncIterator[Any]:
        assert manifest is not None
        starts = _starts(manifest, len(self._sources))
        width = len(starts)

        def entries() -> Any:
            for i in _block(_tuples(starts, len(manifest)), part):
                for start in starts:
                    _, shard, member = manifest.name(start + i).split("\0", 2)
                    yield BatchEntry(ObjectRef(manifest.bucket(start + i), shard), archpath=member)

        row: list[bytes] = []
        pairs = get_batch(client, entries(), continue_on_error=False)
        try:
            async for _, data in pairs:
                row.append(data)  # type: ignore[arg-type]
                if len(row) == width:
                    yield tuple(row)
                    row = []
        finally:
            await pairs.aclose()


def _starts(manifest: Manifest, width: int) -> list[int]:
    """Index of the first member of each source (sources are contiguous, in order)."""
    keys = _SourceKeys(manifest)
    return [bisect.bisect_left(keys, s) for s in range(width)]


class _SourceKeys:
    """A lazy sequence of the source index of each manifest entry, for bisect."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, i: int) -> int:
        return int(self.manifest.name(i).split("\0", 1)[0])


def _tuples(starts: list[int], total: int) -> int:
    ends = [*starts[1:], total]
    return min(end - start for start, end in zip(starts, ends, strict=True))


def _block(total: int, part: Part) -> range:
    """Contiguous block of tuple indices for ``part`` (sizes differ by at most one)."""
    base, extra = divmod(total, part.count)
    start = part.index * base + min(part.index, extra)
    return range(start, start + base + (1 if part.index < extra else 0))


def _convert(ds: Any) -> Any:
    if isinstance(ds, str | Bucket | Source):
        return ds
    name = getattr(ds, "bucket_name", None)
    if name is None:
        return sources(ds)[0]
    if getattr(ds, "etl_name", None):
        raise ConfigError(f"{ds!r}: etl_name is not supported by aisloader; use transform=")
    provider = getattr(ds, "provider", None) or "ais"
    try:  # the SDK's DataShard holds a Provider enum: take its value
        bucket = Bucket(name, str(getattr(provider, "value", provider)))
    except ValueError as exc:
        raise ConfigError(f"{ds!r}: {exc}") from None
    return Source(bucket, (getattr(ds, "prefix", "") or "",))
