"""The epoch stream: the one place where iteration state lives.

An :class:`EpochStream` owns what every reader of a dataset shares — the normalised sources,
the listing (a :class:`~aisloader.core.listing.manifest.Manifest`, made once and reused), the
consumer's :class:`~aisloader.core.streams.order.Part` (rank × worker, split by the one rule in
:mod:`~aisloader.core.streams.order`), the seed, the shuffle flag and the epoch — and turns them
into the positions one part reads in one epoch. Subclasses only say how the items at those
positions are read (:meth:`EpochStream._items`): objects, shard samples, get-batch answers,
zipped shard members.

A stream is plain data until it is bound to a client: it pickles without one (a torch dataset
holds an unbound stream and binds a copy per iteration in the process that reads), and
:meth:`bind` returns a copy with the client, part, epoch or manifest replaced.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Self, TypeVar

from aisloader.core.listing.lister import build_manifest
from aisloader.core.listing.manifest import Manifest
from aisloader.core.listing.sources import Source, sources
from aisloader.core.streams.order import Part, Permutation, part_positions
from aisloader.core.streams.progress import Plan, Round
from aisloader.core.streams.skips import OnError, Refill, SkipLog, Skipped, check_policy
from aisloader.core.streams.state import check_state, choose, make_state
from aisloader.errors import ConfigError
from aisloader.etl import Etl, EtlLike
from aisloader.padding import mark

if TYPE_CHECKING:
    from aisloader.core.client import AsyncClient

__all__ = ["EpochStream", "PrefixMap", "skipped_of"]

T = TypeVar("T")
PrefixMap = Mapping[Any, str | Sequence[str] | None]


class EpochStream(Generic[T]):
    """Items of the sources, each once per epoch across all parts (see module docs).

    Args:
        ais_source_list: sources (``ais://bucket[/prefix]``, buckets, name lists, SDK objects).
        client: the client that reads (optional until iteration; see :meth:`bind`).
        prefix_map: source → prefix or list of prefixes.
        shuffle: a seeded permutation of the epoch order, the same on every part.
        seed: shuffle seed.
        part: this consumer's share (default: everything).
        manifest: a listing made earlier (skips listing).
        etl: a server-side ETL the cluster applies to every object it serves.
        equal: make every rank read the same number of items per epoch (so DDP collectives
            never wait on an uneven last batch): ``"pad"`` repeats the first items of the
            epoch's order to a multiple of the rank count (as ``DistributedSampler``), ``"drop"``
            leaves out the last few; ``None`` (default) reads each item exactly once.
        ranks: how many ranks share the epoch (for ``equal``; :meth:`bind` sets it).
        on_error: ``"raise"`` (default) the typed error of an object that cannot be read, or
            ``"skip"`` it — recorded with its error and attempts, reported after the epoch
            (:mod:`~aisloader.core.streams.skips`); a network failure still raises.
        skip_budget: skips allowed per epoch and part under ``"skip"``: a count, or a
            fraction of the part's items, rounded up (default 1%); one more raises
            SkipBudgetExceeded.

    Raises:
        ConfigError: no source or a malformed one.
    """

    batch_count: ClassVar[int] = 16
    """Items per list from :meth:`batches`."""
    batch_bytes: ClassVar[int] = 256 << 10
    """A list from :meth:`batches` closes once it holds this many bytes."""

    def __init__(
        self,
        ais_source_list: Any,
        *,
        client: AsyncClient | None = None,
        prefix_map: PrefixMap | None = None,
        shuffle: bool = False,
        seed: int = 0,
        part: Part | None = None,
        manifest: Manifest | None = None,
        etl: EtlLike = None,
        equal: Literal["pad", "drop"] | None = None,
        ranks: int = 1,
        on_error: OnError = "raise",
        skip_budget: float = 0.01,
    ) -> None:
        if equal not in (None, "pad", "drop"):
            raise ConfigError(f"equal must be 'pad', 'drop' or None, not {equal!r}")
        check_policy(on_error, skip_budget)
        self.on_error, self.skip_budget = on_error, skip_budget
        self.sources: tuple[Source, ...] = sources(ais_source_list, prefix_map)
        self.equal, self.ranks = equal, ranks
        self.etl = Etl.of(etl)
        self._client = client
        self.shuffle, self.seed = shuffle, seed
        self.part = part or Part()
        self.epoch = 0
        self._manifest = manifest
        self.rounds: tuple[Round, ...] = ()  # interrupted layouts of this epoch (resume)
        self.skip = 0  # items this part delivered before a resume, in the current round
        self._pending: Mapping[str, Any] | None = None  # load_state_dict, for the next pass
        self._taken: Any = None  # what the current ``async for`` handed out (state_dict)
        self.skips = SkipLog(skip_budget, 0)  # what the current pass skipped (on_error)

    # --- state ----------------------------------------------------------------------------
    @property
    def client(self) -> AsyncClient:
        """The bound client.

        Raises:
            ConfigError: the stream was never bound to a client.
        """
        if self._client is None:
            raise ConfigError(f"{type(self).__name__} has no client: pass client= or bind()")
        return self._client

    @property
    def listed(self) -> Manifest | None:
        """The listing once made (None before)."""
        return self._manifest

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch (the shuffle order); the same value on every part gives one order.
        A resume point loaded for another epoch is dropped: this epoch starts at its start."""
        if epoch != self.epoch:
            self._pending = None
            self._restart()
        self.epoch = epoch

    def _restart(self) -> None:
        """Forget where a resume continued (the next pass reads a whole epoch)."""
        self.rounds, self.skip = (), 0

    def bind(
        self,
        client: AsyncClient | None = None,
        *,
        part: Part | None = None,
        epoch: int | None = None,
        manifest: Manifest | None = None,
        ranks: int | None = None,
    ) -> Self:
        """A copy of this stream with the given client, part, epoch, listing or rank count."""
        bound = copy.copy(self)
        bound.ranks = ranks if ranks is not None else self.ranks
        bound._client = client if client is not None else self._client
        bound.part = part if part is not None else self.part
        bound.epoch = epoch if epoch is not None else self.epoch
        bound._manifest = manifest if manifest is not None else self._manifest
        bound._reset()
        return bound

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None  # a connection never crosses a process boundary
        return state

    # --- listing and order ----------------------------------------------------------------
    @property
    def lists_ahead(self) -> bool:
        """Whether this part needs the whole listing before its first item (a lone,
        unshuffled object stream can read while it lists)."""
        return True

    async def manifest(self) -> Manifest:
        """The listing of the sources, made once and cached.

        Raises:
            ConfigError: the sources matched nothing.
            BucketNotFound: a bucket does not exist.
        """
        if self._manifest is None:
            self._manifest = await self._list()
        return self._manifest

    def epoch_size(self, manifest: Manifest) -> int:
        """Items in one epoch of all parts together."""
        return len(manifest)

    def order_size(self, manifest: Manifest) -> int:
        """Positions in one epoch's order: :meth:`epoch_size`, padded or cut to a multiple of
        the rank count under ``equal``."""
        n = self.epoch_size(manifest)
        if self.equal is None or self.ranks <= 1 or not n:
            return n
        rounded = -(-n // self.ranks) if self.equal == "pad" else n // self.ranks
        return rounded * self.ranks

    def part_size(self, manifest: Manifest) -> int:
        """Items this part reads in this epoch's current round (the whole epoch unless a
        resume on another layout left fewer)."""
        return Plan(self.order_size(manifest), self.rounds).part_size(self.part)

    def padding_start(self, manifest: Manifest) -> int | None:
        """Under ``equal="pad"``: how many of this part's positions in the current round come
        before its repeats (the items marked by :func:`~aisloader.padding.mark`); else None."""
        n, size = self.epoch_size(manifest), self.order_size(manifest)
        if self.equal != "pad" or size == n:
            return None
        plan = Plan(size, self.rounds)
        if not self.rounds:
            return len(part_positions(min(n, size), self.part))
        return sum(1 for p in plan.positions(self.part) if p < n)

    def positions(self, manifest: Manifest) -> Iterator[int]:
        """Item indices this part reads this epoch, in order: the seeded permutation of the
        epoch, dealt round-robin across parts (after a resume: what is left, see
        :mod:`~aisloader.core.streams.progress`)."""
        n = self.epoch_size(manifest)
        perm = Permutation(n, self.seed, self.epoch, shuffle=self.shuffle)
        for position in Plan(self.order_size(manifest), self.rounds).positions(
            self.part, self.skip
        ):
            yield perm[position % n]  # under equal="pad", positions past n repeat the first

    # --- resume ---------------------------------------------------------------------------
    def state(self, manifest: Manifest, delivered: int) -> dict[str, Any]:
        """The state after this part delivered ``delivered`` items of the current round
        (counting items delivered before a resume): small, versioned, no sample lists."""
        return make_state(self, manifest, delivered)

    def resume(self, state: Mapping[str, Any], manifest: Manifest) -> None:
        """Continue from ``state``: this part's own, one merged from all parts, or a
        :func:`~aisloader.core.streams.state.bundle` of parts' states.

        Raises:
            ResumeError: a state of another dataset, epoch order, version or layout.
        """
        chosen = choose(state, self.part)
        self.epoch, self.rounds, self.skip = check_state(self, chosen, manifest)

    def state_dict(self) -> dict[str, Any]:
        """Where the current (or last) ``async for`` over this stream stands: after the items
        it handed out. Small, versioned, JSON-safe (:mod:`~aisloader.core.streams.state`).

        Raises:
            ConfigError: nothing was listed yet (iterate, or ``await stream.manifest()``).
        """
        manifest = self._manifest
        if manifest is None:
            raise ConfigError("state_dict() needs the listing: iterate or await manifest() first")
        if self._pending is not None:
            return dict(self._pending)
        return self._taken_state(manifest, self._taken)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` at the next ``async for`` (checked then; see :meth:`resume`)."""
        self._pending = dict(state)
        self.epoch = int((state.get("parts") or [state])[0]["epoch"])

    # --- items ----------------------------------------------------------------------------
    def __aiter__(self) -> AsyncGenerator[T, None]:
        return self._handed_out()

    async def _handed_out(self) -> AsyncGenerator[T, None]:
        """The items of a direct ``async for``, counted for :meth:`state_dict`."""
        pending, self._pending = self._pending, None
        self._restart()  # every pass reads a whole epoch, unless it resumes one
        if pending is not None:
            self.resume(pending, await self.manifest())
        elif self.equal == "pad" or self.on_error == "skip":
            await self.manifest()  # where the repeats start; the size a budget is a share of
        self._taken = taken = self._tracker()
        manifest = self._manifest
        self.skips = SkipLog(self.skip_budget, self.part_size(manifest) if manifest else 0)
        refill = Refill(self.equal is not None)
        async with aclosing(self._items()) as items:
            async for item in items:
                item = taken.take(item)
                if self._hidden(item):
                    continue
                skipped = skipped_of(item)
                if skipped is None:
                    yield item
                    for repeat in refill.good(item):
                        yield repeat
                    continue
                self.skips.record(skipped)
                for repeat in refill.skipped():
                    yield repeat
        refill.close(type(self).__name__)

    def _tracker(self) -> Any:
        """Counts what a pass hands out (an object with ``take(item) -> item``)."""
        start = self.padding_start(self._manifest) if self._manifest is not None else None
        return _Count(self.skip, start)

    def _taken_state(self, manifest: Manifest, taken: Any) -> dict[str, Any]:
        """The state after what ``taken`` (from :meth:`_tracker`) counted."""
        return self.state(manifest, taken.count if taken is not None else self.skip)

    async def batches(
        self, max_count: int | None = None, max_bytes: int | None = None
    ) -> AsyncGenerator[list[T], None]:
        """The same items in the same order, as lists of up to ``max_count`` items that close
        once they hold ``max_bytes`` (a consumer in another thread then pays one cross-thread
        hop per list instead of one per item)."""
        count = max_count or self.batch_count
        limit = max_bytes or self.batch_bytes
        batch: list[T] = []
        size = 0
        async with aclosing(self._items()) as items:
            try:
                async for item in items:
                    batch.append(item)
                    size += self._nbytes(item)
                    if len(batch) >= count or size >= limit:
                        yield batch
                        batch, size = [], 0
            except Exception:
                if batch:  # the items before the failure are delivered first, then the error
                    yield batch
                raise
        if batch:
            yield batch

    # --- for subclasses -------------------------------------------------------------------
    async def _list(self) -> Manifest:
        """List the sources (default: every object they match)."""
        page_size = self.client.config.list_page_size or None
        return await build_manifest(self.client, self.sources, page_size=page_size)

    def _items(self) -> AsyncGenerator[T, None]:
        """The items of this epoch for this part."""
        raise NotImplementedError

    def _nbytes(self, item: T) -> int:
        """Payload bytes of one item (bounds the lists of :meth:`batches`)."""
        return 0

    def _hidden(self, item: T) -> bool:
        """Whether an item only takes its position (counted for resume, not handed out)."""
        return False

    def _reset(self) -> None:
        """Clear per-iteration state in a fresh copy made by :meth:`bind`."""


class _Count:
    """Items handed out, from a resume's starting count; repeats under ``equal="pad"`` marked."""

    __slots__ = ("count", "padding")

    def __init__(self, start: int, padding: int | None) -> None:
        self.count, self.padding = start, padding

    def take(self, item: T) -> T:
        self.count += 1
        if self.padding is not None and self.count > self.padding:
            return mark(item)  # type: ignore[no-any-return]
        return item


def skipped_of(item: Any) -> Skipped | None:
    """The :class:`~aisloader.core.streams.skips.Skipped` record an item stands for, if any
    (an ``(name, Skipped)`` pair from a stream under ``on_error="skip"``)."""
    if type(item) is tuple and len(item) == 2 and type(item[1]) is Skipped:
        return item[1]
    return None
