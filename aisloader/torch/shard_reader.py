"""``AISShardReader``: WebDataset shards streamed and parsed as they arrive (plugin name).

Samples are WebDataset dicts ``{"__key__", "__url__", ext: bytes, ...}`` so ``webdataset``
decoders work unchanged; ``plugin_form=True`` yields the official reader's
``(basename, {ext: bytes})`` instead.

Samples cross from the loop thread in lists (:meth:`ShardStream.batches`: up to 8 samples,
closed at 256 KiB), which costs one cross-thread hop per list instead of one per sample. So the
bridge holds at most ``2 × config.bridge_queue`` lists of at most 256 KiB plus one sample.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from typing import Any, Literal

from aisloader.core.client import AsyncClient
from aisloader.core.manifest import Manifest
from aisloader.core.order import Part
from aisloader.core.samples import to_plugin_form
from aisloader.core.shards import ShardOptions, ShardStream
from aisloader.errors import ConfigError
from aisloader.torch._base import EpochIterable

__all__ = ["AISShardReader"]


class AISShardReader(EpochIterable):
    """Stream WebDataset samples from tar shards (``.tar``, ``.tar.gz``, ``.tgz``).

    Args:
        bucket_list: sources (buckets, ``ais://bucket/prefix`` URLs, SDK buckets, lists).
        prefix_map: source → prefix or list of prefixes.
        etl_name: must be None (server-side ETL is not supported).
        show_progress: a tqdm bar per consumer.
        partition_sources_by_worker: accepted for compatibility; shards are always split
            across ranks × workers exactly once.
        shuffle: seeded shard order per epoch (same on every rank).
        shuffle_buffer: samples in the sample shuffle buffer (0 = off); bounded in bytes too
            by ``config.shuffle_buffer_bytes``.
        seed: shuffle seed.
        plugin_form: yield ``(basename, {ext: bytes})`` like the official reader.
        expected: extensions every sample must have; ``missing`` decides what happens if not.
        missing / on_duplicate / on_corrupt / other_objects: the policies of
            :class:`~aisloader.core.shards.ShardOptions`.
        deterministic: reproducible sample order across in-flight shards (round-robin).
        client / endpoint / config / transform / rank / world_size: as for the other datasets.

    Raises:
        ConfigError: bad sources or options; no shard matched (first iteration).
        ShardFormatError: a corrupt shard under ``on_corrupt="error"``.
        SampleError: a key-rule violation under an ``"error"`` policy.
    """

    def __init__(
        self,
        bucket_list: Any = None,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        etl_name: str | None = None,
        show_progress: bool = False,
        partition_sources_by_worker: bool = False,
        *,
        shuffle_buffer: int = 0,
        plugin_form: bool = False,
        expected: Collection[str] | None = None,
        missing: Literal["error", "skip", "empty"] = "error",
        on_duplicate: Literal["error", "skip"] = "error",
        on_corrupt: Literal["error", "skip"] = "error",
        other_objects: Literal["skip", "error"] = "skip",
        deterministic: bool = False,
        **kwargs: Any,
    ) -> None:
        if etl_name is not None:
            raise ConfigError("etl_name is not supported by aisloader; apply transform= instead")
        if isinstance(expected, str):  # frozenset("jpg") would expect "j", "p" and "g"
            raise ConfigError(f"expected must be a collection of extensions, not {expected!r}")
        super().__init__(bucket_list, prefix_map, show_progress=show_progress, **kwargs)
        self._options = ShardOptions(
            other_objects=other_objects,
            on_corrupt=on_corrupt,
            on_duplicate=on_duplicate,
            missing=missing,
            expected=frozenset(expected) if expected is not None else None,
            shuffle_buffer=shuffle_buffer,
            deterministic=deterministic,
        )
        self._plugin_form = plugin_form

    def _make_stream(
        self, client: AsyncClient, part: Part, manifest: Manifest | None
    ) -> ShardStream:
        return ShardStream(
            self._sources,
            client=client,
            shuffle=self._shuffle,
            seed=self._seed,
            part=part,
            options=self._options,
            manifest=manifest,
        )

    def _needs_manifest(self, part: Part) -> bool:
        return True  # shard names are few; list once and split by shard

    async def _list(self, client: AsyncClient) -> Manifest:
        return await self._make_stream(client, Part(), None).manifest()

    async def _stream(
        self, client: AsyncClient, part: Part, epoch: int, manifest: Manifest | None
    ) -> AsyncIterator[Any]:
        stream = self._make_stream(client, part, manifest)
        stream.set_epoch(epoch)
        batches = stream.batches()
        try:
            async for batch in batches:
                yield batch
        finally:
            await batches.aclose()

    def _unpack(self, items: Iterator[Any]) -> Iterator[Any]:
        return itertools.chain.from_iterable(items)

    def make_sample(self, item: Any) -> Any:
        """A WebDataset dict, or ``(basename, {ext: bytes})`` with ``plugin_form=True``."""
        return to_plugin_form(item) if self._plugin_form else item
