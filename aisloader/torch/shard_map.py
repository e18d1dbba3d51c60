"""``AISShardMapDataset``: map-style random access to samples inside unmodified shards.

Indexed once from the cluster's archive listing (:func:`build_shard_index`), read by
``archpath``: ``dataset[i]`` fetches the members of sample ``i`` concurrently; a DataLoader
batch (``__getitems__``) fetches every member of every sample of the batch in one bridge hop.
Use any sampler (``RandomSampler``, ``DistributedSampler``) for a global shuffle without
converting the data, under a :class:`~aisloader.torch.Lookahead` to read the next batches in
the background (bounded by the members' sizes in the index). ``save_index`` / ``index=`` reuse
the index across runs; ``stats()`` sums the counters of every process that reads.

**Skipping** (``on_error="skip"``, opt-in; the default raises). When indexing, a shard the
cluster cannot read as an archive (truncated, corrupt) is left out, so the dataset is shorter
by its samples, within ``skip_budget`` — a count of shards, or a fraction of the shards listed
— checked once, at construction (one shard more raises ``SkipBudgetExceeded`` with the
report). When reading, a batch (``__getitems__``) leaves out each sample one of whose members
cannot be read (missing, corrupt, refused), within the budget per pass of each process, as
:class:`~aisloader.torch.base_map_dataset.AISBaseMapDataset` does: there ``skip_budget`` is a
count of samples or a fraction of the process's share of them. A single index (``dataset[i]``)
raises :class:`~aisloader.errors.SkipNeedsBatches` instead. Never silently: every skip is
logged as a warning on the ``aisloader.skips`` logger and listed by :meth:`skip_report`.
Network failures and 5xx always raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset

from aisloader.config import ClientConfig
from aisloader.core.batch.entry import BatchEntry
from aisloader.core.listing.shard_index import (
    MemberRef,
    ShardIndex,
    UnreadableShards,
    build_shard_index,
)
from aisloader.core.listing.sources import sources
from aisloader.core.streams.skips import Skipped, check_policy, read_or_skipped, skippable
from aisloader.etl import Etl, EtlLike
from aisloader.torch._conn import TorchConn, source_items
from aisloader.torch._prefetch import Prefetch, Read, read_batch
from aisloader.torch._skipping import Pass, needs_batches, pass_of, report_of, rows, unindexed
from aisloader.torch._stats import DatasetStats, Recorder, WithStats

__all__ = ["AISShardMapDataset"]

Sample = dict[str, Any]
Refs = tuple[str, list[MemberRef]]


class AISShardMapDataset(Dataset[Sample], WithStats):
    """Samples of WebDataset shards by index: ``{"__key__", "__url__", ext: bytes, ...}``.

    Args:
        ais_source_list: shard sources (``ais://bucket/prefix``, buckets, lists, ObjectList of
            shard names).
        prefix_map: source → prefix(es).
        index: a :class:`ShardIndex` or the path of one saved with :meth:`save_index`.
        client / endpoint / config: where and how to connect.
        transform: applied to each sample dict in the consuming process.
        use_batch_api: read a batch's members with one get-batch request (archpath entries)
            instead of concurrent archpath GETs.
        etl_name: a server-side ETL applied to every member the cluster serves (members are
            then read with GETs: get-batch applies no ETL).
        on_error: ``"skip"`` leaves unreadable shards out of the index and unreadable
            samples out of their batch, and records them (module docs); default ``"raise"``.
        skip_budget: shards the index may leave out, and samples each pass of a process may
            skip: a count, or a fraction of the shards listed / of the process's share of the
            samples (default 0.01; module docs).

    Raises:
        ConfigError: bad sources, no shard member matched, or a bad
            ``on_error``/``skip_budget``.
        ShardFormatError: a shard the cluster cannot read as an archive (under ``"raise"``).
        SkipBudgetExceeded: under ``"skip"``, more such shards than the budget allows.
        BucketNotFound: a bucket does not exist.
    """

    def __init__(
        self,
        ais_source_list: Any = None,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        *,
        index: ShardIndex | str | Path | None = None,
        client: Any = None,
        endpoint: str | None = None,
        config: ClientConfig | None = None,
        transform: Callable[[Sample], Any] | None = None,
        use_batch_api: bool = False,
        etl_name: EtlLike = None,
        on_error: Literal["raise", "skip"] = "raise",
        skip_budget: float = 0.01,
    ) -> None:
        check_policy(on_error, skip_budget)
        self._on_error, self._skip_budget = on_error, skip_budget
        self._pass: Pass | None = None  # this process's skips when reading (on_error="skip")
        self._unindexed: list[Skipped] = []  # the shards the index left out
        self._conn = TorchConn(endpoint, config, client, source_items(ais_source_list, prefix_map))
        self._stats = DatasetStats()  # counters summed over this dataset's processes
        self._prefetch = Prefetch()  # batches a Lookahead announced, read ahead
        self._etl = Etl.of(etl_name)
        self._transform = transform
        self._use_batch_api = use_batch_api
        if isinstance(index, str | Path):
            index = ShardIndex.load(index)
        if index is None:
            srcs = sources(ais_source_list, prefix_map)
            hook = self._left_out if on_error == "skip" else None
            index = self._conn.run_short_lived(
                lambda c: build_shard_index(c, srcs, on_unreadable=hook)
            )
        self._index = index

    def _left_out(self, found: UnreadableShards) -> None:
        self._unindexed = unindexed(
            type(self).__name__, found.errors, found.shards, self._skip_budget
        )

    @property
    def index(self) -> ShardIndex:
        """The sample index."""
        return self._index

    def save_index(self, path: str | Path) -> None:
        """Save the index so a later run can pass ``index=path`` and skip listing."""
        self._index.save(path)

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, index: int) -> Any:
        with self._stats.recorder(self._client_stats) as rec:
            sample = self._one(index, rec)
            rec.add(1)
            return sample

    def _one(self, index: int, rec: Recorder) -> Any:
        if self._on_error == "raise":
            return self._read([index], rec)[0]
        try:
            key, refs = self._index.sample(index)
            return self._finish(key, refs, self._conn.call(self._read_call([index], False)))
        except Exception as exc:
            if not skippable(exc):
                raise
            key, refs = self._index.sample(index)
            what = f"sample {key!r} of {refs[0].shard.uri}"
            raise needs_batches(type(self).__name__, index, what, exc) from exc

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        with self._stats.recorder(self._client_stats) as rec:
            out = (
                self._skipping(indices, rec)
                if self._on_error == "skip"
                else self._read(indices, rec)
            )
            rec.add(len(out))
            return out

    def _values(self, indices: Sequence[int], rec: Recorder) -> Iterator[Any]:
        """Every member's bytes of the samples at ``indices``, in order (under ``"skip"``, a
        ``Skipped`` for each that cannot be read); read ahead under a ``Lookahead``."""
        return iter(
            read_batch(self._prefetch, self._conn, indices, self._batch_read, self._weigh, rec)
        )

    def _batch_read(self, indices: Sequence[int]) -> Read:
        return self._read_call(indices, self._on_error == "skip")

    def _read_call(self, indices: Sequence[int], skip: bool) -> Read:
        """The read of every member of the samples at ``indices`` (``skip``: a ``Skipped``
        for each that cannot be read, else its typed error)."""
        entries = _entries([self._index.sample(i) for i in indices])
        etl, api = self._etl, self._use_batch_api
        if skip:
            etls = [etl] * len(entries)
            return lambda c: read_or_skipped(c, entries, etls, batch_api=api)
        return lambda c: c.get_all(entries, batch_api=api, etl=etl)

    def _weigh(self, indices: Sequence[int]) -> int:
        return sum(max(m.size, 0) for i in indices for m in self._index.sample(i)[1])

    def _read(self, indices: Sequence[int], rec: Recorder) -> list[Any]:
        """The samples at ``indices`` (a member's typed error when one cannot be read)."""
        samples = [self._index.sample(i) for i in indices]
        datas = self._values(indices, rec)
        return [self._finish(key, refs, [next(datas) for _ in refs]) for key, refs in samples]

    def _skipping(self, indices: Sequence[int], rec: Recorder) -> list[Any]:
        """The batch under ``on_error="skip"``: the samples whose members could all be read,
        in order; each other one recorded (its first unreadable member) and left out."""
        current = self._pass = pass_of(
            self._pass, len(self), self._skip_budget, type(self).__name__, len(indices)
        )
        samples = [self._index.sample(i) for i in indices]
        values = self._values(indices, rec)
        out = []
        for key, refs in samples:
            datas = [next(values) for _ in refs]
            skipped = next((d for d in datas if isinstance(d, Skipped)), None)
            if skipped is not None:
                current.record(skipped)
                continue
            out.append(self._finish(key, refs, datas))
        return out

    def _finish(self, key: str, refs: list[MemberRef], datas: Sequence[Any]) -> Any:
        sample: Sample = {"__key__": key, "__url__": refs[0].shard.uri}
        for ref, data in zip(refs, datas, strict=True):
            sample[ref.ext] = data
        return sample if self._transform is None else self._transform(sample)

    def skip_report(self) -> list[dict[str, Any]]:
        """What ``on_error="skip"`` left out, ``{"object", "error", "attempts"}`` each: the
        shards left out of the index (``object`` is the shard), then the samples this process
        skipped in its current (or last) pass (``object`` is the first member that could not
        be read). With DataLoader workers each worker keeps its own pass."""
        return rows(self._unindexed) + report_of(self._pass)


def _entries(samples: Sequence[Refs]) -> list[BatchEntry]:
    """One entry per member of ``samples``, in order."""
    return [BatchEntry(m.shard, archpath=m.member) for _, refs in samples for m in refs]
