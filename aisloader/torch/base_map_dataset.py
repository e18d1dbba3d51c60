"""``AISBaseMapDataset``: the base of the map-style datasets (the plugin's name and contract).

The listing is made once, at construction, into a compact :class:`Manifest` (flat buffers, so
forked workers do not copy it page by page). ``__getitem__`` does one GET; ``__getitems__``
(which the DataLoader calls with a whole batch) fetches the batch concurrently in one bridge
hop. The plugin's subclass contract holds: ``self._obj_list`` / :meth:`get_obj_list` are
indexable objects with ``.name``, ``.props.size`` and ``.get_reader().read_all()``, and a
subclass that overrides ``__getitem__`` is called once per index, as the plugin does.

**Reading ahead.** Under a :class:`~aisloader.torch.Lookahead` batch sampler each batch names
the consumer's next batches; their reads start at once, in the background of the consuming
process, so a batch waiting on one slow object (a retry backoff) no longer stalls the loop
behind it. Batches are read together for this (not by a subclass's ``__getitem__``).

**Skipping** (``on_error="skip"``, opt-in: the default raises, as the plugin does). A batch
(``__getitems__``) leaves out each object that cannot be read — missing, corrupt, refused —
and comes back shorter by it (empty if none could be read: a ``collate_fn`` must then accept
an empty list, torch's default one does not); never silently: each skip is recorded
(``skip_report()``: object, error, attempts) and logged as a warning (``aisloader.skips``).
A single index (``dataset[i]``, or a DataLoader with ``batch_size=None``) has nothing to
return in its place, so an unreadable object there raises
:class:`~aisloader.errors.SkipNeedsBatches` (its cause is the object's error). The budget
holds per pass of each process (the main one or a DataLoader worker): a pass is the next
``share`` indices it reads, ``share = len(dataset) / (ranks × DataLoader workers)`` rounded
up — one epoch's share under the usual samplers — and one skip past the budget raises
``SkipBudgetExceeded`` with the report. Network failures and 5xx always raise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from torch.utils.data import Dataset
from tqdm import tqdm

from aisloader.config import ClientConfig
from aisloader.core.batch.entry import BatchEntry
from aisloader.core.listing.lister import build_manifest
from aisloader.core.listing.manifest import Manifest
from aisloader.core.listing.sources import sources
from aisloader.core.streams.skips import Skipped, check_policy, read_or_skipped, skippable
from aisloader.errors import ConfigError, SkipNeedsBatches
from aisloader.etl import Etl, EtlLike
from aisloader.refs import ObjectRef
from aisloader.torch._conn import TorchConn, source_items
from aisloader.torch._handles import ObjectHandles, manifest_of
from aisloader.torch._prefetch import Prefetch, read_batch
from aisloader.torch._skipping import Pass, needs_batches, pass_of, report_of
from aisloader.torch._stats import DatasetStats, Recorder, WithStats

if TYPE_CHECKING:
    from aisloader.core.client import AsyncClient

__all__ = ["AISBaseMapDataset"]

PrefixMap = Mapping[Any, str | Sequence[str] | None]


class AISBaseMapDataset(Dataset[Any], WithStats):
    """Base for map-style datasets over AIS objects; override :meth:`make_sample` (ours) or
    ``__getitem__`` (the plugin's way).

    Args:
        ais_source_list: ``ais://bucket[/prefix]`` strings, :class:`~aisloader.Bucket`,
            :class:`~aisloader.core.listing.sources.ObjectList`, official SDK buckets/object
            groups, or a list of those. SDK objects bring their cluster (endpoint, token,
            TLS, timeouts) unless ``endpoint=``/``client=`` say otherwise.
        prefix_map: source → prefix or list of prefixes (as in ``aistore.pytorch``).
        etl_name: a server-side ETL applied to every object the cluster serves.
        client: an aisloader ``Client``/``AsyncClient`` or an SDK ``Client``: where and how.
        endpoint: cluster URL (default: the sources' cluster, else ``AIS_ENDPOINT``).
        config: :class:`~aisloader.ClientConfig` (default from the environment).
        transform: applied to each object's bytes in the consuming process.
        manifest: a prebuilt :class:`Manifest` (skips listing).
        show_progress: show a tqdm bar while listing.
        use_batch_api: fetch each DataLoader batch (``__getitems__``) with one get-batch
            request instead of concurrent GETs (falls back to GETs on clusters without it).
        on_error: ``"skip"`` leaves objects that cannot be read out of their batch and
            records them (module docs); default ``"raise"``.
        skip_budget: skips allowed per pass of a process: a count, or a fraction of its share
            of the dataset (default 0.01; module docs).

    Raises:
        ConfigError: no source, a malformed source, no endpoint, SDK sources of two clusters,
            nothing matched, or a bad ``on_error``/``skip_budget``.
        BucketNotFound: a bucket does not exist.
    """

    _batch_reads: ClassVar[bool] = True
    """A batch is read as one concurrent read of all its objects (else object by object)."""

    def __init__(
        self,
        ais_source_list: Any = None,
        prefix_map: PrefixMap | None = None,
        etl_name: EtlLike = None,
        *,
        client: Any = None,
        endpoint: str | None = None,
        config: ClientConfig | None = None,
        transform: Callable[[bytes], Any] | None = None,
        manifest: Manifest | None = None,
        show_progress: bool = False,
        use_batch_api: bool = False,
        on_error: Literal["raise", "skip"] = "raise",
        skip_budget: float = 0.01,
    ) -> None:
        check_policy(on_error, skip_budget)
        self._on_error, self._skip_budget = on_error, skip_budget
        self._pass: Pass | None = None  # this process's skips (on_error="skip")
        self._conn = TorchConn(endpoint, config, client, source_items(ais_source_list, prefix_map))
        self._stats = DatasetStats()  # counters summed over this dataset's processes
        self._prefetch = Prefetch()  # batches a Lookahead announced, read ahead
        self._etl = Etl.of(etl_name)
        self._ais_source_list = source_items(ais_source_list)
        self._prefix_map = dict(prefix_map or {})
        self._transform = transform
        self._use_batch_api = use_batch_api
        self._show_progress = show_progress
        if manifest is None and _overrides(type(self), "_create_objects_list"):
            manifest = manifest_of(self._create_objects_list())  # the plugin's listing hook
        if manifest is None:
            manifest = self._list()
        if not len(manifest):
            raise ConfigError("the manifest is empty: nothing to read")
        self._manifest = manifest

    def _list(self) -> Manifest:
        srcs = sources(self._ais_source_list, self._prefix_map)
        off = None if self._show_progress else True  # None: shown only on a terminal
        with tqdm(desc="listing", unit="obj", disable=off) as bar:
            page_size = self._conn.config.list_page_size or None
            return self._conn.run_short_lived(
                lambda c: build_manifest(
                    c, srcs, page_size=page_size, progress=lambda _: bar.update()
                )
            )

    def _create_objects_list(self) -> list[Any]:
        """The plugin's listing hook: every object of the sources, as objects with ``.name``
        and ``.get_reader()``. A subclass may override it (filtering ``super()``'s list); the
        dataset then holds exactly what it returns."""
        return list(ObjectHandles(self._list(), self._conn, self._etl))

    @property
    def manifest(self) -> Manifest:
        """The listing: names, sizes and buckets of every object, by index."""
        return self._manifest

    @property
    def _obj_list(self) -> ObjectHandles:
        return ObjectHandles(self._manifest, self._conn, self._etl)

    def get_obj_list(self) -> ObjectHandles:
        """The listing as objects with ``.name``, ``.props.size`` and
        ``.get_reader().read_all()`` (the plugin's ``get_obj_list``)."""
        return self._obj_list

    def __len__(self) -> int:
        return len(self._manifest)

    def make_sample(self, ref: ObjectRef, data: bytes) -> Any:
        """Turn one object into a sample; the default is ``(object_name, data)``."""
        return ref.name, data

    def __getitem__(self, index: int) -> Any:
        with self._stats.recorder(self._client_stats) as rec:
            sample = self._read_one(index)
            rec.add(1)
            return sample

    def _read_one(self, index: int) -> Any:
        if self._on_error == "raise":
            return self._get(index)
        try:
            return self._get(index)
        except Exception as exc:
            if not skippable(exc):
                raise
            uri = self._manifest.ref(index).uri
            raise needs_batches(type(self).__name__, index, uri, exc) from exc

    def _get(self, index: int) -> Any:
        """The sample at ``index`` (the object's typed error when it cannot be read)."""
        ref, etl = self._manifest.ref(index), self._etl
        return self._finish(ref, self._conn.call(lambda c: c.get(ref, etl=etl)))

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        with self._stats.recorder(self._client_stats) as rec:
            samples = self._read_batch(indices, rec)
            rec.add(len(samples))
            return samples

    def _read_batch(self, indices: Sequence[int], rec: Recorder) -> list[Any]:
        if _overrides(type(self), "__getitem__") or not self._batch_reads:
            if self._on_error == "skip":
                return self._skipping(indices, self._one_by_one(indices))
            return [self[i] for i in indices]  # the plugin's contract: one call per index
        values = self._batch_values(indices, rec)
        if self._on_error == "skip":
            return self._skipping(indices, values)
        refs = [self._manifest.ref(i) for i in indices]
        return [self._finish(ref, data) for ref, data in zip(refs, values, strict=True)]

    def _batch_values(self, indices: Sequence[int], rec: Recorder) -> list[Any]:
        """The batch's objects read together (under ``"skip"``, a ``Skipped`` for each that
        cannot be read), read ahead under a :class:`~aisloader.torch.Lookahead`."""
        size = self._manifest.size
        return read_batch(  # type: ignore[no-any-return]
            self._prefetch,
            self._conn,
            indices,
            self._batch_read,
            lambda key: sum(max(size(i), 0) for i in key),
            rec,
        )

    def _batch_read(self, indices: Sequence[int]) -> Callable[[AsyncClient], Awaitable[Any]]:
        """The read of one batch's objects, as a call on the client (module docs)."""
        refs = [self._manifest.ref(i) for i in indices]
        batch_api, etl = self._use_batch_api, self._etl
        if self._on_error == "skip":
            entries, etls = [BatchEntry(ref) for ref in refs], [etl] * len(refs)
            return lambda c: read_or_skipped(c, entries, etls, batch_api=batch_api)
        return lambda c: c.get_all(refs, batch_api=batch_api, etl=etl)

    def _one_by_one(self, indices: Sequence[int]) -> list[Any]:
        """A batch's samples read index by index (a ``Skipped`` for each that cannot be)."""
        read = self.__getitem__ if _overrides(type(self), "__getitem__") else self._get
        return [self._one_or_skipped(read, i) for i in indices]

    def _skipping(self, indices: Sequence[int], values: list[Any]) -> list[Any]:
        """The batch under ``on_error="skip"``: the samples of the objects that could be read,
        in order; each other one recorded and left out (module docs). ``values`` are samples
        (read one by one) or objects' bytes (read together), with ``Skipped`` in the gaps."""
        current = self._pass = pass_of(
            self._pass, len(self), self._skip_budget, type(self).__name__, len(indices)
        )
        together = not (_overrides(type(self), "__getitem__") or not self._batch_reads)
        samples = [
            self._finish(self._manifest.ref(i), v) if together and not isinstance(v, Skipped) else v
            for i, v in zip(indices, values, strict=True)
        ]
        for skipped in (s for s in samples if isinstance(s, Skipped)):
            current.record(skipped)
        return [s for s in samples if not isinstance(s, Skipped)]

    def _one_or_skipped(self, read: Callable[[int], Any], index: int) -> Any:
        try:
            return read(index)
        except Exception as exc:
            cause = exc.__cause__ if isinstance(exc, SkipNeedsBatches) else exc  # super()[i]
            if cause is None or not skippable(cause):
                raise
            return Skipped.of(self._manifest.ref(index).uri, cause)

    def skip_report(self) -> list[dict[str, Any]]:
        """What this process skipped in its current (or last) pass under ``on_error="skip"``:
        ``{"object", "error", "attempts"}`` each. With DataLoader workers each worker keeps
        its own (and logs each skip as a warning on the ``aisloader.skips`` logger)."""
        return report_of(self._pass)

    def _finish(self, ref: ObjectRef, data: bytes) -> Any:
        if self._transform is not None:
            data = self._transform(data)
        return self.make_sample(ref, data)


def _overrides(cls: type, name: str) -> bool:
    """A user subclass below :class:`AISBaseMapDataset` defines its own ``name``."""
    for klass in cls.__mro__:
        if klass is AISBaseMapDataset or klass.__module__.startswith("aisloader.torch"):
            return False
        if name in klass.__dict__:
            return True
    return False
