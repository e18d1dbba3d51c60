"""``AISShardReader``: WebDataset shards streamed and parsed as they arrive (plugin name).

By default samples are what the official reader yields — ``(basename, {ext: bytes})`` with
every extension seen so far present (``b""`` where a sample has none, the plugin's
``ZeroDict``), shard after shard in listing order — but streamed, never a whole shard in
memory. ``sample_format="dict"`` yields WebDataset dicts ``{"__key__", "__url__", ext: bytes}``
instead (``webdataset`` decoders work unchanged), with samples of in-flight shards interleaved
and no padding unless asked for.

Samples cross from the loop thread in lists (:meth:`EpochStream.batches`: up to 8 samples,
closed at 256 KiB), which costs one cross-thread hop per list instead of one per sample. So the
bridge holds at most ``2 × config.bridge_queue`` lists of at most 256 KiB plus one sample.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from aisloader.core.streams.base import EpochStream
from aisloader.core.streams.order import Part
from aisloader.core.streams.shard_cursor import ShardCursor
from aisloader.core.streams.shards import ShardOptions, ShardStream
from aisloader.core.tar.samples import to_plugin_form
from aisloader.errors import ConfigError
from aisloader.etl import EtlLike
from aisloader.padding import PaddedName
from aisloader.torch._base import ResumableIterable, _Progress
from aisloader.torch._sig import spelled_out
from aisloader.torch.base_iter_dataset import AISBaseIterDataset

__all__ = ["AISShardReader"]


@spelled_out("ais_source_list")
class AISShardReader(AISBaseIterDataset, ResumableIterable):
    """Stream WebDataset samples from tar shards (``.tar``, ``.tar.gz``, ``.tgz``).

    Args:
        bucket_list: sources (buckets, ``ais://bucket/prefix`` URLs, SDK buckets, lists).
        prefix_map: source → prefix or list of prefixes.
        etl_name: a server-side ETL the cluster applies to each shard it serves.
        show_progress: a tqdm bar per consumer.
        partition_sources_by_worker: accepted for compatibility; shards are always split
            across ranks × workers exactly once.
        shuffle: seeded shard order per epoch (same on every rank).
        shuffle_buffer: samples in the sample shuffle buffer (0 = off); bounded in bytes too
            by ``config.shuffle_buffer_bytes``.
        seed: shuffle seed.
        sample_format: ``"plugin"`` (default): ``(basename, {ext: bytes})`` as the official
            reader yields; ``"dict"``: WebDataset dicts with ``__key__`` and ``__url__``.
        pad_missing: fill in ``b""`` for extensions a sample lacks (default: on in the plugin
            format, off for dicts); see :class:`~aisloader.core.streams.shards.ShardOptions`.
        sequential: a whole shard before the next (default: on in the plugin format).
        expected: extensions every sample must have; ``missing`` decides what happens if not.
        on_error: ``"skip"``: a corrupt shard's remaining samples are skipped (logged, and
            listed in the stream's stats); the same as ``on_corrupt="skip"``.
        missing / on_duplicate / on_corrupt / other_objects: the policies of
            :class:`~aisloader.core.streams.shards.ShardOptions` (``other_objects`` defaults to
            ``"read"`` in the plugin format, as the plugin reads every object as a tar, and to
            ``"skip"`` — logged — for dicts).
        deterministic: reproducible sample order across in-flight shards (round-robin).
        equal: ``"pad"`` or ``"drop"``: every DataLoader worker of every rank takes the same
            number of samples per epoch (so every rank the same samples and batches): the
            largest share, padded with marked repeats of the epoch's first samples, or the
            smallest (see :mod:`~aisloader.core.streams.shard_equal`). Counts come from one
            archive listing of the sources. Needs ``workers``.
        workers: the DataLoader's ``num_workers`` (for ``equal``: each worker's quota
            depends on it; a different count is a ``ConfigError`` at iteration).
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
        etl_name: EtlLike = None,
        show_progress: bool = False,
        partition_sources_by_worker: bool = False,
        *,
        shuffle: bool = False,
        seed: int = 0,
        shuffle_buffer: int = 0,
        sample_format: Literal["plugin", "dict"] = "plugin",
        pad_missing: bool | None = None,
        sequential: bool | None = None,
        expected: Collection[str] | None = None,
        missing: Literal["error", "skip", "empty"] = "error",
        on_duplicate: Literal["error", "skip"] = "error",
        on_corrupt: Literal["error", "skip"] | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        other_objects: Literal["skip", "error", "read"] | None = None,
        deterministic: bool = False,
        equal: Literal["pad", "drop"] | None = None,
        workers: int = 0,
        **kwargs: Any,
    ) -> None:
        if sample_format not in ("plugin", "dict"):
            raise ConfigError(f"sample_format must be 'plugin' or 'dict', not {sample_format!r}")
        plugin = sample_format == "plugin"
        if isinstance(expected, str):  # frozenset("jpg") would expect "j", "p" and "g"
            raise ConfigError(f"expected must be a collection of extensions, not {expected!r}")
        options = ShardOptions(
            other_objects=other_objects or ("read" if plugin else "skip"),
            on_corrupt=on_corrupt or ("skip" if on_error == "skip" else "error"),
            on_duplicate=on_duplicate,
            missing=missing,
            expected=frozenset(expected) if expected is not None else None,
            shuffle_buffer=shuffle_buffer,
            deterministic=deterministic,
            sequential=plugin if sequential is None else sequential,
            pad_missing=plugin if pad_missing is None else pad_missing,
        )
        stream = ShardStream(
            bucket_list,
            prefix_map=prefix_map,
            shuffle=shuffle,
            seed=seed,
            options=options,
            etl=etl_name,
            equal=equal,
        )
        super().__init__(
            bucket_list,
            prefix_map,
            partition_sources_by_worker,
            etl_name=etl_name,
            stream=stream,
            show_progress=show_progress,
            **kwargs,
        )
        self._shards = stream
        stream.track = True  # samples carry their trace, for the resume state
        self._plugin_form = plugin
        self._workers = workers

    def __len__(self) -> int:
        """Samples this rank reads per epoch (all its DataLoader workers together), counted
        from one archive listing per shard (the plugin counts member files instead); under
        ``equal``, its workers' quotas."""
        stream = self._shards.bind(part=self._part(), manifest=self.manifest())
        if self._shards.equal is None:
            return self._conn.run_short_lived(lambda c: stream.bind(c).sample_count())
        ranks = stream.part.count  # in this (main) process: one part per rank
        layout = stream.bind(part=Part(stream.part.index, ranks * max(1, self._workers)))
        self._count_samples()
        per_part = self._conn.run_short_lived(lambda c: layout.bind(c).quota())
        return per_part * max(1, self._workers)

    def _count_samples(self) -> None:
        """Under ``equal``: every shard's sample count, once per dataset and process."""
        shards = self._shards
        if shards.counts is None:
            bound = shards.bind(manifest=self.manifest())
            shards.counts = self._conn.run_short_lived(lambda c: bound.bind(c).sample_counts())

    def _placed(self, **changes: Any) -> EpochStream[Any]:
        stream = super()._placed(**changes)
        if self._shards.equal is not None:
            rank_count = stream.ranks
            if stream.part.count != rank_count * max(1, self._workers):
                raise ConfigError(
                    f"equal= on a shard reader gives each DataLoader worker a quota: pass "
                    f"workers= the DataLoader's num_workers (this worker is part "
                    f"{stream.part.index} of {stream.part.count} with {rank_count} ranks, "
                    f"workers={self._workers})"
                )
            self._count_samples()
            assert isinstance(stream, ShardStream)
            stream.counts = self._shards.counts
        return stream

    def _apply_transform(self, item: Any) -> Any:
        return item if self._transform is None else self._transform(item)

    # --- resume: the consumer replays each sample's trace (see core/streams/shard_cursor) --
    counts_positions = False

    def _take(self, progress: _Progress, item: Any) -> bool:
        if progress.cursor is None:
            stream = progress.stream
            assert isinstance(stream, ShardStream)
            progress.cursor = ShardCursor(stream._cursor)
        progress.cursor.apply(item.pop("__trace__"))
        if self._shards.options.pad_missing:
            progress.keys = tuple(item)  # padded: every extension seen so far
        return True

    def _progress_state(self, progress: _Progress) -> dict[str, Any]:
        stream = progress.stream
        assert isinstance(stream, ShardStream)
        state = stream.state(self.manifest(), cursor=progress.cursor)
        if self._shards.options.pad_missing:
            keys = progress.keys if progress.keys else stream.seen
            state["seen"] = sorted(k for k in keys if not k.startswith("__"))
        return state

    def make_sample(self, item: Any) -> Any:
        """``(basename, {ext: bytes})`` (the plugin's form), or the WebDataset dict; a repeat
        under ``equal="pad"`` is marked (:func:`~aisloader.padding.is_padding`)."""
        if not self._plugin_form:
            return item
        padded = item.pop("__padded__", False)
        name, parts = to_plugin_form(item)
        return (PaddedName(name) if padded else name, parts)
