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
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from functools import partial
from typing import Any

from aisloader.core.listing.lister import iter_entries
from aisloader.core.listing.manifest import Manifest, ManifestBuilder
from aisloader.core.listing.shard_index import count_samples
from aisloader.core.listing.sources import is_shard, nothing_matched
from aisloader.core.stages.interleave import interleave
from aisloader.core.stages.shuffle import ShuffleBuffer
from aisloader.core.streams.order import Permutation
from aisloader.core.streams.progress import Plan
from aisloader.core.streams.shard_cursor import END, OPEN, Rule, ShardCursor
from aisloader.core.streams.shard_equal import equal_quota, shard_sample_counts
from aisloader.core.streams.shard_options import ShardOptions, ShardStats
from aisloader.core.streams.shard_read import Sample, ShardReading, sample_bytes
from aisloader.core.streams.state import choose
from aisloader.errors import ConfigError, DataError, ResumeError
from aisloader.refs import ObjectRef

__all__ = ["ShardOptions", "ShardStats", "ShardStream"]

_log = logging.getLogger("aisloader.shards")


class ShardStream(ShardReading):
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
        self.track = False  # give every sample its trace ("__trace__", see shard_cursor)
        self.leftovers: list[list[Any]] = []  # shards an interrupted layout did not finish
        self.counts: tuple[int, ...] | None = None  # samples per shard (for equal=)
        self._cursor: dict[str, Any] | None = None  # where a resume continues (this part)
        self._seen_before: frozenset[str] = frozenset()  # seen, as of the resume point
        self._exts: dict[str, set[str]] = {}  # each started shard's extensions (pad_missing)
        self._padding_url = ""  # the shard whose extensions were merged into seen last

    def _reset(self) -> None:
        self.stats = ShardStats()
        self.seen, self._exts, self._padding_url = set(self._seen_before), {}, ""

    # --- resume ---------------------------------------------------------------------------
    def state(
        self, manifest: Manifest, delivered: int = 0, cursor: ShardCursor | None = None
    ) -> dict[str, Any]:
        """The state after the samples whose traces ``cursor`` replayed (without one: where
        this stream starts). ``delivered`` is not used: the cursor says how far each shard and
        the buffer got (:mod:`~aisloader.core.streams.shard_cursor`)."""
        mine = cursor.state() if cursor is not None else self._cursor or ShardCursor().state()
        share = len(self.leftovers[self.part.index :: self.part.count])
        state = super().state(manifest, max(0, mine["opened"] - share))
        state["leftovers"], state["cursor"] = self.leftovers, mine
        return state

    def _restart(self) -> None:
        super()._restart()
        self.leftovers, self._cursor, self._seen_before = [], None, frozenset()

    def _tracker(self) -> Any:
        self.track = True  # a direct ``async for``: samples carry traces, replayed here
        return _Traced(ShardCursor(self._cursor))

    def _taken_state(self, manifest: Manifest, taken: Any) -> dict[str, Any]:
        cursor = taken.cursor if taken is not None else None
        state = self.state(manifest, cursor=cursor)
        if self.options.pad_missing:
            state["seen"] = sorted(self.seen)
        return state

    def resume(self, state: Mapping[str, Any], manifest: Manifest) -> None:
        """Continue from ``state`` (see :meth:`EpochStream.resume`): this part's own state
        continues inside its shards and buffer in the uninterrupted order; a merged one deals
        the shards not fully delivered (leftovers) and the rest of the epoch to the new parts.

        Raises:
            ResumeError: as for :meth:`EpochStream.resume`.
        """
        chosen = choose(state, self.part)
        if self.equal and chosen.get("part") is None:
            raise ResumeError(
                f"equal={self.equal!r} gives each part a quota of samples for its layout: a "
                f"state merged from a {chosen['rounds'][-1][0]}-part layout cannot resume part "
                f"{self.part.index} of {self.part.count}; resume on the old world size and "
                "worker count, or without equal"
            )
        super().resume(chosen, manifest)
        self.skip = 0  # the cursor says where this part's shard sequence continues
        self.leftovers = [list(x) for x in chosen.get("leftovers", ())]
        own = chosen.get("part") is not None
        self._cursor = dict(chosen["cursor"]) if own and chosen.get("cursor") else None
        self._seen_before = frozenset(chosen.get("seen", ()) if own else ())
        self.seen = set(self._seen_before)

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
        return sample_bytes(item)

    async def sample_counts(self) -> tuple[int, ...]:
        """Samples per shard, by listing index (one archive listing of the sources).

        Raises:
            ConfigError: a shard the archive listing does not show.
        """
        return await shard_sample_counts(self.client, self.sources, await self.manifest())

    async def sample_count(self) -> int:
        """Samples this part reads per epoch (one archive listing per shard of the part).

        Raises:
            ConfigError, BucketNotFound, AISError, TransportError: as for listing.
        """
        manifest = await self.manifest()
        refs = [manifest.ref(i) for i in self.positions(manifest)]
        return await count_samples(self.client, refs)

    # --- the epoch: shard sequence, interleave, buffer (and the trace of each sample) ------
    def _sequence(self, manifest: Manifest) -> list[tuple[int, Rule]]:
        """This part's shards in order (listing index and the samples to deliver): its share of
        the leftovers of an interrupted layout first, then its positions of the epoch."""
        share = self.leftovers[self.part.index :: self.part.count]
        seq = [(int(m), Rule(int(s), tuple(h))) for m, s, h in share]
        n, whole = self.epoch_size(manifest), Rule()
        perm = Permutation(n, self.seed, self.epoch, shuffle=self.shuffle)
        plan = Plan(self.order_size(manifest), self.rounds)
        seq.extend((perm[p % n], whole) for p in plan.positions(self.part))
        return seq

    def order_size(self, manifest: Manifest) -> int:
        """Shards are never repeated or left out: ``equal`` works on samples (see
        :mod:`~aisloader.core.streams.shard_equal`)."""
        return self.epoch_size(manifest)

    def _items(self) -> AsyncGenerator[Sample, None]:
        return self._samples() if self.equal is None else self._equalized()

    async def quota(self) -> int:
        """Under ``equal``: the samples every part takes this epoch (lists the shards'
        members once per stream; see :mod:`~aisloader.core.streams.shard_equal`).

        Raises:
            ConfigError: no ``equal``, or a shard the archive listing does not show.
        """
        if self.equal is None:
            raise ConfigError("quota() needs equal='pad' or 'drop'")
        if self.counts is None:
            self.counts = await self.sample_counts()
        return equal_quota(
            self.counts, self.part.count, self.equal, self.seed, self.epoch, self.shuffle
        )

    async def _equalized(self) -> AsyncGenerator[Sample, None]:
        """The part's samples cut at the quota (drop), or followed by repeats up to it (pad)."""
        limit = await self.quota()
        cursor = ShardCursor(self._cursor) if self._cursor else None
        emitted = cursor.emitted if cursor else 0
        async with aclosing(self._samples()) as samples:
            async for sample in samples:
                if emitted >= limit:
                    return  # drop: the rest of this part's share is left out this epoch
                emitted += 1
                yield sample
        if emitted < limit:
            padded = cursor.padded if cursor else 0
            async with aclosing(self._repeats(padded)) as repeats:
                async for sample in repeats:
                    yield sample
                    emitted += 1
                    if emitted >= limit:
                        return

    async def _repeats(self, skip: int) -> AsyncGenerator[Sample, None]:
        """The epoch's samples from its first shard on, again and again (after the first
        ``skip``), marked ``"__padded__"``: what a part pads its quota with."""
        manifest = await self.manifest()
        n = self.epoch_size(manifest)
        perm = Permutation(n, self.seed, self.epoch, shuffle=self.shuffle)
        if not any(self.counts or ()):
            raise ConfigError("equal='pad' has no sample to repeat: the shards are empty")
        count = 0
        while True:
            before = count
            for position in range(n):
                async for sample in self.read_shard(manifest.ref(perm[position]), -1):
                    count += 1
                    if count <= skip:
                        continue
                    sample.pop("__at__", None)
                    sample["__padded__"] = True
                    yield self._emit(sample, [], -1)
            if count == before:  # e.g. every shard skipped as corrupt: nothing to repeat
                raise DataError("equal='pad' found no readable sample to repeat in the shards")

    async def _samples(self) -> AsyncGenerator[Sample, None]:
        cfg, opts = self.client.config, self.options
        manifest = await self.manifest()
        seq = self._sequence(manifest)
        cursor = ShardCursor(self._cursor) if self._cursor else None
        events: list[tuple[Any, ...]] = []  # since the last sample handed out (its trace)
        started: list[int] = []  # the ordinal of each shard the interleave started, in order
        samples = interleave(
            self._shard_readers(manifest, seq, cursor, events, started),
            concurrency=cfg.shards_in_flight,
            deterministic=opts.deterministic,
            sequential=opts.sequential,
            turn=cursor.turn if cursor else 0,
            on_end=(lambda slot: events.append((END, started[slot]))) if self.track else None,
        )
        async with aclosing(samples):
            if opts.shuffle_buffer <= 0:
                async for sample in samples:
                    yield self._emit(self._took(sample, events), events, 0)
                return
            buffer: ShuffleBuffer[Sample] = ShuffleBuffer(
                opts.shuffle_buffer,
                cfg.shuffle_buffer_bytes if opts.shuffle_bytes is None else opts.shuffle_bytes,
                seed=hash((self.seed, self.epoch, self.part.index)),
                drawn=cursor.emitted if cursor else 0,
            )
            if cursor is not None and cursor.buffer:
                buffer.load(await self._refill(manifest, cursor))
            async for sample in samples:
                size = sample_bytes(self._took(sample, events))
                for out in buffer.push(sample, size):
                    yield self._emit(out, events, buffer.slot)
            for out in buffer.drain():
                yield self._emit(out, events, buffer.slot)

    async def _shard_readers(
        self,
        manifest: Manifest,
        seq: list[tuple[int, Rule]],
        cursor: ShardCursor | None,
        events: list[tuple[Any, ...]],
        started: list[int],
    ) -> AsyncIterator[Callable[[], AsyncIterator[Sample]]]:
        """One reader per shard, in the order the interleave starts them: after a resume the
        shards that were in flight (after their last sample taken), then the next ones."""
        restarts = cursor.in_flight() if cursor else []
        for o, m, rule in restarts:
            started.append(o)
            yield partial(self.read_shard, manifest.ref(m), o, rule)
        for o in range(cursor.opened if cursor else 0, len(seq)):
            m, rule = seq[o]
            if self.track:
                events.append((OPEN, o, m, rule.start, rule.holes))
            started.append(o)
            yield partial(self.read_shard, manifest.ref(m), o, rule)


class _Traced:
    """What a direct ``async for`` took: each sample's trace replayed, then removed."""

    __slots__ = ("cursor",)

    def __init__(self, cursor: ShardCursor) -> None:
        self.cursor = cursor

    def take(self, sample: Sample) -> Sample:
        self.cursor.apply(sample.pop("__trace__"))
        return sample
