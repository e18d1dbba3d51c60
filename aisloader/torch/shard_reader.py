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
from aisloader.core.streams.shards import ShardOptions, ShardStream
from aisloader.core.streams.state import choose
from aisloader.core.tar.samples import to_plugin_form
from aisloader.errors import ConfigError, ResumeError
from aisloader.etl import EtlLike
from aisloader.torch._base import ResumableIterable, _Progress
from aisloader.torch.base_iter_dataset import AISBaseIterDataset

__all__ = ["AISShardReader"]


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
        missing / on_duplicate / on_corrupt / other_objects: the policies of
            :class:`~aisloader.core.streams.shards.ShardOptions` (``other_objects`` defaults to
            ``"read"`` in the plugin format, as the plugin reads every object as a tar, and to
            ``"skip"`` — logged — for dicts).
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
        on_corrupt: Literal["error", "skip"] = "error",
        other_objects: Literal["skip", "error", "read"] | None = None,
        deterministic: bool = False,
        **kwargs: Any,
    ) -> None:
        if sample_format not in ("plugin", "dict"):
            raise ConfigError(f"sample_format must be 'plugin' or 'dict', not {sample_format!r}")
        plugin = sample_format == "plugin"
        if isinstance(expected, str):  # frozenset("jpg") would expect "j", "p" and "g"
            raise ConfigError(f"expected must be a collection of extensions, not {expected!r}")
        options = ShardOptions(
            other_objects=other_objects or ("read" if plugin else "skip"),
            on_corrupt=on_corrupt,
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
        stream.track = True  # samples carry their shard's place, for the resume state
        self._plugin_form = plugin

    def __len__(self) -> int:
        """Samples this rank reads per epoch (all its DataLoader workers together), counted
        from one archive listing per shard (the plugin counts member files instead)."""
        stream = self._shards.bind(part=self._part(), manifest=self.manifest())  # no equal
        return self._conn.run_short_lived(lambda c: stream.bind(c).sample_count())

    def _apply_transform(self, item: Any) -> Any:
        return item if self._transform is None else self._transform(item)

    # --- resume: a position in the shard order, and samples into the current shard ----------
    def _take(self, progress: _Progress, item: Any) -> bool:
        position = item.pop("__pos__")
        if position != progress.delivered or progress.inner < 0:
            stream = progress.stream
            assert isinstance(stream, ShardStream)
            first = position == stream.skip
            progress.delivered, progress.inner = position, stream.inner if first else 0
        progress.inner += 1
        return True

    def _progress_state(self, progress: _Progress) -> dict[str, Any]:
        stream = progress.stream
        assert isinstance(stream, ShardStream)
        started = progress.inner >= 0
        position = progress.delivered if started else stream.skip
        state = stream.state(self.manifest(), position)
        state["inner"] = progress.inner if started else stream.inner
        if stream.resumable:
            state["unresumable"] = stream.resumable
        return state

    def _resume_stream(self, stream: EpochStream[Any], state: Any) -> None:
        assert isinstance(stream, ShardStream)
        chosen = choose(state, stream.part)
        parts = state.get("parts") or [chosen]
        why = stream.resumable or next((s["unresumable"] for s in parts if "unresumable" in s), "")
        if why:
            raise ResumeError(f"AISShardReader cannot resume mid-epoch here: {why}")
        if chosen.get("part") is None and any(s.get("inner", 0) for s in parts):
            raise ResumeError(
                "AISShardReader resumes on another layout only at shard boundaries: the states "
                "stop inside shards; resume on the old world size and worker count"
            )
        stream.resume(chosen, self.manifest())
        stream.resume_inner(int(chosen.get("inner", 0)))

    def make_sample(self, item: Any) -> Any:
        """``(basename, {ext: bytes})`` (the plugin's form), or the WebDataset dict."""
        return to_plugin_form(item) if self._plugin_form else item
