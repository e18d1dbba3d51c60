"""WebDataset shard streams: list shards once, split and shuffle them, parse tars as they arrive.

Stages (each bounded)::

    shard manifest ─ epoch order (rank × worker split, seeded shard shuffle)
      └─ interleave(shards_in_flight) ─ per shard: get_stream → tar members → samples
           └─ shuffle buffer (count + bytes) → consumer (samples, or lists: :meth:`batches`)

Memory per shard stream is the largest member plus the configured queues, never the shard.
On ``on_corrupt="skip"`` the samples a corrupt shard completed before the damage were already
delivered; the rest of the shard is skipped and a warning is logged (``aisloader.shards``).
A body cut short by the network is re-read by the client (never reported as a corrupt shard);
a shard that is really corrupt raises :class:`ShardFormatError` or, under ``on_corrupt="skip"``,
is counted in :attr:`ShardStream.stats` and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aisloader.core.manifest import Manifest, ManifestBuilder
from aisloader.core.mixing import ShuffleBuffer, interleave
from aisloader.core.order import Part
from aisloader.core.samples import agroup_samples
from aisloader.core.sources import Source, iter_entries, nothing_matched, sources
from aisloader.core.stream import epoch_refs
from aisloader.core.tar import iter_tar_members
from aisloader.errors import ConfigError, ShardFormatError
from aisloader.refs import ObjectRef

if TYPE_CHECKING:
    from aisloader.core.client import AsyncClient

__all__ = ["SHARD_SUFFIXES", "ShardOptions", "ShardStats", "ShardStream", "is_shard"]

SHARD_SUFFIXES = (".tar", ".tgz", ".tar.gz")
BATCH_COUNT = 8  # samples per list from ShardStream.batches()
BATCH_BYTES = 256 << 10  # a list closes once it holds this many bytes
_log = logging.getLogger("aisloader.shards")
Sample = dict[str, Any]


def is_shard(name: str) -> bool:
    """True for names ending in a streamable tar suffix."""
    return name.lower().endswith(SHARD_SUFFIXES)


@dataclass(frozen=True)
class ShardOptions:
    """Policies of a shard stream (all picklable).

    Raises:
        ConfigError: an unknown policy value or a negative buffer size.

    Attributes:
        other_objects: ``"skip"`` non-shard objects under the prefix, or ``"error"``.
        on_corrupt: ``"error"`` raises ShardFormatError; ``"skip"`` counts and skips the shard.
        on_duplicate: a repeated extension within a sample: ``"error"`` or ``"skip"``.
        missing: when ``expected`` is set: ``"error"``, ``"skip"`` the sample, or ``"empty"``.
        expected: extensions every sample must have (e.g. ``{"jpg", "cls"}``), or None.
        shuffle_buffer: samples held for the sample shuffle (0 = no sample shuffle).
        shuffle_bytes: bytes held for the sample shuffle (None = config default).
        deterministic: take samples round-robin across in-flight shards (reproducible order).
    """

    other_objects: Literal["skip", "error"] = "skip"
    on_corrupt: Literal["error", "skip"] = "error"
    on_duplicate: Literal["error", "skip"] = "error"
    missing: Literal["error", "skip", "empty"] = "error"
    expected: Collection[str] | None = None
    shuffle_buffer: int = 0
    shuffle_bytes: int | None = None
    deterministic: bool = False

    def __post_init__(self) -> None:
        for name, allowed in _POLICIES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if isinstance(self.expected, str):
            raise ConfigError("expected must be a collection of extensions, not one string")
        if self.shuffle_buffer < 0 or (self.shuffle_bytes is not None and self.shuffle_bytes < 0):
            raise ConfigError("shuffle_buffer and shuffle_bytes must be >= 0")


_POLICIES = {
    "other_objects": ("skip", "error"),
    "on_corrupt": ("error", "skip"),
    "on_duplicate": ("error", "skip"),
    "missing": ("error", "skip", "empty"),
}


@dataclass
class ShardStats:
    """What a stream skipped, for the skip policies' report."""

    shards: int = 0
    samples: int = 0
    skipped_objects: list[str] = field(default_factory=list)
    corrupt_shards: list[str] = field(default_factory=list)


class ShardStream:
    """Samples of every shard of the sources, once per epoch; see the module docs.

    Raises (on iteration):
        ConfigError: no shard matched, or a non-shard object under ``other_objects="error"``.
        ShardFormatError: a corrupt shard under ``on_corrupt="error"``.
        SampleError: a sample breaks a key rule under an ``"error"`` policy.
    """

    def __init__(
        self,
        ais_source_list: Any,
        *,
        client: AsyncClient,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        shuffle: bool = False,
        seed: int = 0,
        part: Part | None = None,
        options: ShardOptions | None = None,
        manifest: Manifest | None = None,
    ) -> None:
        self.sources: tuple[Source, ...] = sources(ais_source_list, prefix_map)
        self.client, self.shuffle, self.seed = client, shuffle, seed
        self.part = part or Part()
        self.options = options or ShardOptions()
        self.epoch = 0
        self.stats = ShardStats()
        self._manifest = manifest

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch: shard order and sample shuffle both depend on it."""
        self.epoch = epoch

    async def manifest(self) -> Manifest:
        """The shards of the sources, listed once.

        Raises:
            ConfigError: no shard, or a non-shard object under ``other_objects="error"``.
        """
        if self._manifest is None:
            builder = ManifestBuilder()
            page_size = self.client.config.list_page_size or None
            entries = iter_entries(self.client, self.sources, page_size=page_size)
            async with aclosing(entries):  # closed here on the error path, not by the GC
                async for bucket, name, size in entries:
                    if is_shard(name):
                        builder.add(bucket, name, size)
                    elif self.options.other_objects == "error":
                        raise ConfigError(
                            f"{ObjectRef(bucket, name).uri} is not a .tar/.tgz/.tar.gz shard: "
                            "narrow the prefix or pass other_objects='skip'"
                        )
                    else:
                        self.stats.skipped_objects.append(ObjectRef(bucket, name).uri)
            if not len(builder):
                raise ConfigError(nothing_matched(self.sources).replace("objects", "shards", 1))
            self._manifest = builder.build()
        return self._manifest

    def __aiter__(self) -> AsyncGenerator[Sample, None]:
        return self._shuffled()

    async def batches(
        self, max_count: int = BATCH_COUNT, max_bytes: int = BATCH_BYTES
    ) -> AsyncGenerator[list[Sample], None]:
        """The same samples in the same order, as lists of up to ``max_count`` samples that
        close once they hold ``max_bytes`` (a consumer in another thread then pays one
        cross-thread hop per list instead of one per sample)."""
        batch: list[Sample] = []
        size = 0
        samples = self._shuffled()
        try:
            async for sample in samples:
                batch.append(sample)
                size += _sample_bytes(sample)
                if len(batch) >= max_count or size >= max_bytes:
                    yield batch
                    batch, size = [], 0
            if batch:
                yield batch
        finally:
            await samples.aclose()

    async def _shuffled(self) -> AsyncGenerator[Sample, None]:
        cfg, opts = self.client.config, self.options
        samples = interleave(
            self._shard_readers(),
            concurrency=cfg.shards_in_flight,
            deterministic=opts.deterministic,
        )
        try:
            if opts.shuffle_buffer <= 0:
                async for sample in samples:
                    yield sample
                return
            buffer: ShuffleBuffer[Sample] = ShuffleBuffer(
                opts.shuffle_buffer,
                cfg.shuffle_buffer_bytes if opts.shuffle_bytes is None else opts.shuffle_bytes,
                seed=hash((self.seed, self.epoch, self.part.index)) & 0xFFFFFFFF,
            )
            async for sample in samples:
                for out in buffer.push(sample, _sample_bytes(sample)):
                    yield out
            for out in buffer.drain():
                yield out
        finally:
            await samples.aclose()

    async def _shard_readers(self) -> AsyncIterator[Callable[[], AsyncIterator[Sample]]]:
        manifest = await self.manifest()
        for ref in epoch_refs(
            manifest, self.part, epoch=self.epoch, seed=self.seed, shuffle=self.shuffle
        ):
            yield lambda ref=ref: self.read_shard(ref)  # type: ignore[misc]

    async def read_shard(self, ref: ObjectRef) -> AsyncIterator[Sample]:
        """Samples of one shard, streamed as its bytes arrive."""
        opts = self.options
        members = iter_tar_members(
            self.client.get_stream(ref),
            shard=ref.uri,
            max_member_size=self.client.config.max_member_size,
        )
        grouped = agroup_samples(
            members,
            url=ref.uri,
            on_duplicate=opts.on_duplicate,
            missing=opts.missing,
            expected=opts.expected,
        )
        try:
            async for sample in grouped:
                self.stats.samples += 1
                yield sample
        except ShardFormatError as exc:
            if opts.on_corrupt != "skip":
                raise
            self.stats.corrupt_shards.append(ref.uri)
            _log.warning(
                "skipped the rest of corrupt shard %s (on_corrupt='skip'): %s", ref.uri, exc
            )
        finally:
            await grouped.aclose()
        self.stats.shards += 1


def _sample_bytes(sample: Sample) -> int:
    return sum(len(v) for v in sample.values() if isinstance(v, bytes | bytearray))
