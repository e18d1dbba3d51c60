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
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

from aisloader.core.listing.lister import iter_entries
from aisloader.core.listing.manifest import Manifest, ManifestBuilder
from aisloader.core.listing.shard_index import count_samples, list_members
from aisloader.core.listing.sources import Source, is_shard, nothing_matched
from aisloader.core.stages.interleave import interleave
from aisloader.core.stages.shuffle import ShuffleBuffer
from aisloader.core.streams.base import EpochStream
from aisloader.core.tar.members import iter_tar_members
from aisloader.core.tar.samples import agroup_samples, split_key
from aisloader.errors import ConfigError, ShardFormatError
from aisloader.refs import ObjectRef

__all__ = ["ShardOptions", "ShardStats", "ShardStream"]

_log = logging.getLogger("aisloader.shards")
Sample = dict[str, Any]


@dataclass(frozen=True)
class ShardOptions:
    """Policies of a shard stream (all picklable).

    Raises:
        ConfigError: an unknown policy value or a negative buffer size.

    Attributes:
        other_objects: objects without a ``.tar``/``.tgz``/``.tar.gz`` name under the prefix:
            ``"skip"`` them (logged, and listed in :attr:`ShardStream.stats`), ``"error"``, or
            ``"read"`` them as tar shards too (a non-tar then raises ``ShardFormatError``).
        on_corrupt: ``"error"`` raises ShardFormatError; ``"skip"`` counts and skips the shard.
        on_duplicate: a repeated extension within a sample: ``"error"`` or ``"skip"``.
        missing: when ``expected`` is set: ``"error"``, ``"skip"`` the sample, or ``"empty"``.
        expected: extensions every sample must have (e.g. ``{"jpg", "cls"}``), or None.
        shuffle_buffer: samples held for the sample shuffle (0 = no sample shuffle).
        shuffle_bytes: bytes held for the sample shuffle (None = config default).
        deterministic: take samples round-robin across in-flight shards (reproducible order).
        sequential: every sample of a shard before the next shard's (the listing order, as the
            official reader yields), the next shards still read ahead into bounded queues.
        pad_missing: give every sample every extension seen so far in this stream (``b""``
            where it has none), as the official reader's ``ZeroDict`` does so that torch's
            default collate sees the same keys; each shard's member names are listed (one
            archive listing per shard) before its samples, so a sample is padded with the
            extensions of its whole shard.
    """

    other_objects: Literal["skip", "error", "read"] = "skip"
    on_corrupt: Literal["error", "skip"] = "error"
    on_duplicate: Literal["error", "skip"] = "error"
    missing: Literal["error", "skip", "empty"] = "error"
    expected: Collection[str] | None = None
    shuffle_buffer: int = 0
    shuffle_bytes: int | None = None
    deterministic: bool = False
    sequential: bool = False
    pad_missing: bool = False

    def __post_init__(self) -> None:
        for name, allowed in _POLICIES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if isinstance(self.expected, str):
            raise ConfigError("expected must be a collection of extensions, not one string")
        if self.shuffle_buffer < 0 or (self.shuffle_bytes is not None and self.shuffle_bytes < 0):
            raise ConfigError("shuffle_buffer and shuffle_bytes must be >= 0")


_POLICIES = {
    "other_objects": ("skip", "error", "read"),
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


class ShardStream(EpochStream[Sample]):
    """Samples of every shard of the sources, once per epoch; see the module docs.

    Args:
        options: the policies and the sample shuffle (:class:`ShardOptions`).
        **kwargs: as for :class:`~aisloader.core.streams.base.EpochStream`; ``shuffle``
            shuffles the shard order.

    Raises (on iteration):
        ConfigError: no shard matched, or a non-shard object under ``other_objects="error"``.
        ShardFormatError: a corrupt shard under ``on_corrupt="error"``.
        SampleError: a sample breaks a key rule under an ``"error"`` policy.
    """

    batch_count = 8

    def __init__(
        self, ais_source_list: Any, *, options: ShardOptions | None = None, **kwargs: Any
    ) -> None:
        super().__init__(ais_source_list, **kwargs)
        self.options = options or ShardOptions()
        self.stats = ShardStats()
        self.seen: set[str] = set()  # extensions of the shards delivered from (pad_missing)
        self.inner = 0  # samples of the first shard delivered before a resume
        self.track = False  # tag samples with "__pos__" (their shard's place in the part)
        self._exts: dict[str, set[str]] = {}  # each started shard's extensions (pad_missing)
        self._padding_url = ""  # the shard whose extensions were merged into seen last

    def _reset(self) -> None:
        self.stats = ShardStats()
        self.seen, self._exts, self._padding_url = set(), {}, ""

    def _padded(self, sample: Sample) -> Sample:
        """``sample`` with every extension of the shards delivered from so far (its own shard
        included), ``b""`` where it has none — as the plugin pads, whatever was read ahead."""
        if self.options.pad_missing:
            url = sample["__url__"]
            if url != self._padding_url:  # a new shard: merge its extensions once
                self.seen |= self._exts.get(url, set())
                self._padding_url = url
            for ext in self.seen:
                sample.setdefault(ext, b"")
        return sample

    async def _list(self) -> Manifest:
        """The shards of the sources.

        Raises:
            ConfigError: no shard, or a non-shard object under ``other_objects="error"``.
        """
        builder = ManifestBuilder()
        page_size = self.client.config.list_page_size or None
        entries = iter_entries(self.client, self.sources, page_size=page_size)
        async with aclosing(entries):  # closed here on the error path, not by the GC
            async for bucket, name, size in entries:
                if is_shard(name) or self.options.other_objects == "read":
                    builder.add(bucket, name, size)
                elif self.options.other_objects == "error":
                    raise ConfigError(
                        f"{ObjectRef(bucket, name).uri} is not a .tar/.tgz/.tar.gz shard: "
                        "narrow the prefix or pass other_objects='skip'"
                    )
                else:
                    self.stats.skipped_objects.append(ObjectRef(bucket, name).uri)
        if self.stats.skipped_objects:
            _log.warning(
                "skipped %d objects that are not named as shards (first: %s); "
                "other_objects='read' reads them as tar shards",
                len(self.stats.skipped_objects),
                self.stats.skipped_objects[0],
            )
        if not len(builder):
            raise ConfigError(nothing_matched(self.sources).replace("objects", "shards", 1))
        return builder.build()

    def _nbytes(self, item: Sample) -> int:
        return _sample_bytes(item)

    async def sample_count(self) -> int:
        """Samples this part reads per epoch (one archive listing per shard of the part).

        Raises:
            ConfigError, BucketNotFound, AISError, TransportError: as for listing.
        """
        manifest = await self.manifest()
        refs = [manifest.ref(i) for i in self.positions(manifest)]
        return await count_samples(self.client, refs)

    async def _items(self) -> AsyncGenerator[Sample, None]:
        cfg, opts = self.client.config, self.options
        samples = interleave(
            self._shard_readers(),
            concurrency=cfg.shards_in_flight,
            deterministic=opts.deterministic,
            sequential=opts.sequential,
        )
        async with aclosing(samples):
            if opts.shuffle_buffer <= 0:
                async for sample in samples:
                    yield self._padded(sample)
                return
            buffer: ShuffleBuffer[Sample] = ShuffleBuffer(
                opts.shuffle_buffer,
                cfg.shuffle_buffer_bytes if opts.shuffle_bytes is None else opts.shuffle_bytes,
                seed=hash((self.seed, self.epoch, self.part.index)) & 0xFFFFFFFF,
            )
            async for sample in samples:
                for out in buffer.push(sample, _sample_bytes(sample)):
                    yield self._padded(out)
            for out in buffer.drain():
                yield self._padded(out)

    @property
    def resumable(self) -> str:
        """Why a resume cannot continue mid-shard in this mode ('' when it can)."""
        if self.options.shuffle_buffer > 0:
            return "a sample shuffle buffer is on (shuffle_buffer > 0)"
        if not self.options.sequential:
            return "in-flight shards are interleaved (pass sequential=True)"
        return ""

    def resume_inner(self, inner: int) -> None:
        """After :meth:`resume`: skip the first ``inner`` samples of the first shard."""
        self.inner = inner

    async def _shard_readers(self) -> AsyncIterator[Callable[[], AsyncIterator[Sample]]]:
        manifest = await self.manifest()
        for ordinal, index in enumerate(self.positions(manifest), start=self.skip):
            ref = manifest.ref(index)
            skip = self.inner if ordinal == self.skip else 0
            yield lambda ref=ref, o=ordinal, s=skip: self.read_shard(ref, o, s)  # type: ignore[misc]

    async def read_shard(
        self, ref: ObjectRef, ordinal: int = 0, skip: int = 0
    ) -> AsyncIterator[Sample]:
        """Samples of one shard, streamed as its bytes arrive (after its first ``skip``;
        tagged with ``__pos__`` = ``ordinal`` when :attr:`track` is on)."""
        opts = self.options
        if opts.pad_missing:
            source = Source(ref.bucket, names=(ref.name,))
            exts = self._exts.setdefault(ref.uri, set())
            async for _, _, member, _ in list_members(self.client, [source]):
                exts.add(split_key(member)[1])
        members = iter_tar_members(
            self.client.get_stream(ref, etl=self.etl),
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
                if skip:
                    skip -= 1
                    continue
                self.stats.samples += 1
                if self.track:
                    sample["__pos__"] = ordinal
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
