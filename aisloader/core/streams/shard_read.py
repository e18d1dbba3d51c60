"""How one shard is read, and the trace each sample carries (the half of a shard stream that
knows nothing of epochs).

:class:`ShardReading` streams one shard's samples as its bytes arrive (only those a
:class:`~aisloader.core.streams.shard_cursor.Rule` still wants), re-reads buffered samples for
a resume, pads samples with the extensions seen so far (the plugin's ``ZeroDict``), and writes
each sample's trace (:mod:`~aisloader.core.streams.shard_cursor`) when tracking is on.
:class:`~aisloader.core.streams.shards.ShardStream` builds the epoch on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aisloader.core.listing.manifest import Manifest
from aisloader.core.listing.shard_index import list_members
from aisloader.core.listing.sources import Source
from aisloader.core.streams.base import EpochStream
from aisloader.core.streams.shard_cursor import TAKE, Rule, ShardCursor
from aisloader.core.streams.shard_options import ShardOptions, ShardStats
from aisloader.core.tar.members import iter_tar_members
from aisloader.core.tar.samples import agroup_samples, split_key
from aisloader.errors import ResumeError, ShardFormatError
from aisloader.refs import ObjectRef

__all__ = ["Sample", "ShardReading", "sample_bytes"]

_log = logging.getLogger("aisloader.shards")
Sample = dict[str, Any]


class ShardReading(EpochStream[Sample]):
    """Reads shards for a shard stream (see module docs)."""

    options: ShardOptions
    stats: ShardStats
    track: bool  # give every sample its trace ("__trace__")
    seen: set[str]  # extensions of the shards delivered from (pad_missing)
    _exts: dict[str, set[str]]  # each started shard's extensions (pad_missing)
    _padding_url: str  # the shard whose extensions were merged into seen last

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

    def _emit(self, sample: Sample, events: list[tuple[Any, ...]], slot: int) -> Sample:
        """``sample`` as handed out: padded, and with its trace when tracking."""
        if self.track:
            sample["__trace__"] = (tuple(events), slot)
            events.clear()
        return self._padded(sample)

    def _took(self, sample: Sample, events: list[tuple[Any, ...]]) -> Sample:
        """``sample`` as it leaves the interleave (a TAKE event in the trace)."""
        if self.track:
            events.append((TAKE, *sample.pop("__at__")))
        return sample

    async def _refill(self, manifest: Manifest, cursor: ShardCursor) -> list[tuple[Sample, int]]:
        """The samples that sat in the shuffle buffer, re-read (each shard once, up to its last
        buffered sample), with their sizes, in the buffer's slot order."""
        wanted: dict[int, tuple[int, set[int]]] = {}
        for o, m, index in cursor.held():
            wanted.setdefault(o, (m, set()))[1].add(index)
        found: dict[tuple[int, int], Sample] = {}
        for o, (m, indices) in wanted.items():
            order = sorted(indices)  # read_shard yields the wanted samples in shard order
            got = [s async for s in self.read_shard(manifest.ref(m), o, Rule(-1, tuple(order)))]
            if len(got) != len(order):
                raise ResumeError(
                    f"{manifest.ref(m).uri} has fewer samples than the resume state's shuffle "
                    "buffer refers to: the shard changed since the state was taken"
                )
            for i, sample in zip(order, got, strict=True):
                sample.pop("__at__", None)
                found[o, i] = sample
        return [(found[o, i], sample_bytes(found[o, i])) for o, _, i in cursor.held()]

    async def read_shard(
        self, ref: ObjectRef, ordinal: int = 0, rule: Rule | None = None
    ) -> AsyncIterator[Sample]:
        """Samples of one shard, streamed as its bytes arrive (only those ``rule`` still wants;
        tagged ``__at__`` = (``ordinal``, index in the shard) for the trace when tracking)."""
        opts, rule = self.options, rule or Rule()
        # the shard's extensions (pad_missing) are listed while its bytes start to arrive;
        # they are needed before its first sample leaves
        listing = asyncio.ensure_future(self._list_exts(ref)) if opts.pad_missing else None
        try:
            async for sample in self._samples_of(ref, ordinal, rule, listing):
                yield sample
            if listing is not None:
                await listing  # a shard without samples: its listing's error still surfaces
        finally:
            if listing is not None:
                listing.cancel()
                await asyncio.gather(listing, return_exceptions=True)

    async def _list_exts(self, ref: ObjectRef) -> None:
        exts = self._exts.setdefault(ref.uri, set())
        source = Source(ref.bucket, names=(ref.name,))
        async for _, _, member, _ in list_members(self.client, [source]):
            exts.add(split_key(member)[1])

    async def _samples_of(
        self, ref: ObjectRef, ordinal: int, rule: Rule, listing: asyncio.Future[None] | None
    ) -> AsyncIterator[Sample]:
        opts = self.options
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
        index = -1
        try:
            async for sample in grouped:
                index += 1
                if not rule.wants(index):
                    if rule.past(index):
                        break
                    continue
                self.stats.samples += 1
                if self.track:
                    sample["__at__"] = (ordinal, index)
                if listing is not None:
                    await listing
                    listing = None
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


def sample_bytes(sample: Sample) -> int:
    return sum(len(v) for v in sample.values() if isinstance(v, bytes | bytearray))
