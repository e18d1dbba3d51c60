"""``AISBaseIterDataset``: the base of the iterable object datasets (the plugin's contract).

Each object is read exactly once per epoch across torch.distributed ranks × DataLoader workers
(one split rule: :func:`aisloader.core.streams.order.split`). Workers do not each list the
bucket: a lone unshuffled reader streams the listing straight into its fetch window; otherwise
the listing is made once per node and shared through a file, and kept for later epochs.
``shuffle=True`` applies a seeded permutation that is identical on every rank and changes every
epoch. Objects cross from the loop thread to the consumer in lists (up to 16 objects or
256 KiB, see :meth:`~aisloader.core.streams.base.EpochStream.batches`), so the bridge costs one
hop per list; ``config.bridge_queue`` bounds the lists queued.

Subclasses written for ``aistore.pytorch`` keep working: the plugin's hooks are here
(``_create_objects_iter``, ``_reset_iterator``, ``_get_worker_iter_info``, ``_obj_iterator``,
``_ais_source_list``, ``_prefix_map``, and the older ``_get_sample_iter_from_source(source,
prefix)``), yielding objects with ``.name`` and ``.get_reader().read_all()``. A subclass that
overrides ``__iter__`` uses them as it did; one that overrides ``_get_sample_iter_from_source``
or ``_create_objects_iter`` is iterated through them. The split differs on purpose: the plugin
gives every rank everything, here ranks × workers each get their share.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from torch.utils.data import get_worker_info

from aisloader.core.listing.lister import iter_entries
from aisloader.core.listing.sources import sources as normalise
from aisloader.core.streams.base import EpochStream
from aisloader.core.streams.objects import ObjectStream
from aisloader.errors import ConfigError
from aisloader.etl import Etl, EtlLike
from aisloader.refs import ObjectRef
from aisloader.torch._base import EpochIterable
from aisloader.torch._conn import source_items
from aisloader.torch._handles import ObjectHandle
from aisloader.torch._sig import spelled_out

__all__ = ["AISBaseIterDataset"]

_HOOKS = ("_get_sample_iter_from_source", "_create_objects_iter")


@spelled_out()
class AISBaseIterDataset(EpochIterable):
    """Base for iterable datasets over AIS objects; override :meth:`make_sample` (ours), or
    ``__iter__`` / the plugin's hooks (see module docs).

    Args:
        ais_source_list: sources, as for :class:`~aisloader.torch.AISMapDataset`.
        prefix_map: source → prefix or list of prefixes.
        partition_sources_by_worker: for the plugin's hooks, give each rank × worker whole
            sources (as the plugin gives each worker); the default iteration splits objects.
        etl_name: a server-side ETL applied to every object.
        window: GETs in flight per consumer (default ``config.window``).
        shuffle: seeded random order, different each epoch, the same on every rank.
        seed: shuffle seed.
        client / endpoint / config: where and how to connect (SDK sources bring their
            cluster; else ``AIS_ENDPOINT``).
        transform: applied to each object's bytes in the consuming process.
        show_progress: a tqdm bar per consumer.
        rank / world_size: override torch.distributed detection.
        equal: ``"pad"`` or ``"drop"``: every rank reads the same number of objects (and
            batches) per epoch, so DDP collectives never hang on an uneven end; see
            :class:`~aisloader.core.streams.base.EpochStream`. Default: each object once.
        on_error: ``"skip"`` reads past an object that cannot be read (missing, corrupt,
            refused) and records it — ``skip_report()``, and a warning at the end of each
            pass; under ``equal`` each skip is replaced by a marked repeat. Default
            ``"raise"``. A network failure always raises.
        skip_budget: skips allowed per pass and part: a count, or a fraction of the part's
            objects (default 0.01); one more raises ``SkipBudgetExceeded`` with the report.
        stream: for subclasses: the core stream to read instead of an object stream.

    Raises:
        ConfigError: no source or a malformed one (at construction); nothing matched (first
            iteration).
        BucketNotFound: a bucket does not exist (first iteration).
    """

    def __init__(
        self,
        ais_source_list: Any = None,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        partition_sources_by_worker: bool = False,
        *,
        etl_name: EtlLike = None,
        window: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
        equal: Literal["pad", "drop"] | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        skip_budget: float = 0.01,
        stream: EpochStream[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if stream is not None and (on_error, skip_budget) != ("raise", 0.01):
            raise ConfigError(
                f"{type(self).__name__} takes no on_error=/skip_budget= (its own policies: see "
                "its docs); AISIterDataset reads past unreadable objects with on_error='skip'"
            )
        if stream is None:
            stream = ObjectStream(
                ais_source_list,
                prefix_map=prefix_map,
                shuffle=shuffle,
                seed=seed,
                window=window,
                etl=etl_name,
                equal=equal,
                on_error=on_error,
                skip_budget=skip_budget,
            )
        super().__init__(stream, origin=source_items(ais_source_list, prefix_map), **kwargs)
        self._ais_source_list = source_items(ais_source_list)
        self._prefix_map = dict(prefix_map or {})
        self._partition_sources_by_worker = partition_sources_by_worker
        self._etl = Etl.of(etl_name)
        self._obj_iterator: Iterator[Any] | None = None

    def __len__(self) -> int:
        """Objects this rank reads per epoch (all its DataLoader workers together)."""
        return self._part_size()

    def make_sample(self, item: Any) -> Any:
        """Turn ``(object_name, data)`` into a sample; the default returns it unchanged."""
        return item

    def _apply_transform(self, item: Any) -> Any:
        name, data = item
        return (name, data) if self._transform is None else (name, self._transform(data))

    def __iter__(self) -> Iterator[Any]:
        if not _uses_plugin_hooks(type(self)):
            yield from super().__iter__()
            return
        self._reset_iterator()
        items, _ = self._get_worker_iter_info()
        for item in items:
            if isinstance(item, ObjectHandle):
                item = (item.name, item.get_reader().read_all())
            yield self.make_sample(self._apply_transform(item))

    # --- the plugin's hooks -----------------------------------------------------------------
    def _get_sample_iter_from_source(self, source: Any, prefix: str) -> Iterator[Any]:
        """The objects of one source under ``prefix``, as readable handles."""
        srcs = normalise([source], {source: prefix} if prefix else None)
        page_size = self._conn.config.list_page_size or None
        entries = self._conn.iterate(lambda c: iter_entries(c, srcs, page_size=page_size))
        for bucket, name, size in entries:
            yield ObjectHandle(self._conn, ObjectRef(bucket, name), size, self._etl)

    def _create_objects_iter(self, sources: Sequence[Any] | None = None) -> Iterator[Any]:
        """Everything the sources (default: all) hold, source by source, prefix by prefix."""
        for source in self._ais_source_list if sources is None else sources:
            for prefix in self._prefixes(source):
                yield from self._get_sample_iter_from_source(source, prefix)

    def _reset_iterator(self) -> None:
        """Start ``self._obj_iterator`` over from the first object."""
        self._obj_iterator = self._create_objects_iter()

    def _get_worker_iter_info(self) -> tuple[Iterator[Any], str]:
        """``(iterator, worker name)``: this rank × worker's share of ``_obj_iterator``."""
        if self._obj_iterator is None:
            self._reset_iterator()
        assert self._obj_iterator is not None
        part = self._part()
        info = get_worker_info()
        name = f" (Worker {info.id})" if info is not None and info.num_workers > 1 else ""
        if part.count == 1:
            return self._obj_iterator, name
        if self._partition_sources_by_worker:
            mine = self._ais_source_list[part.index :: part.count]
            return self._create_objects_iter(mine), name
        return itertools.islice(self._obj_iterator, part.index, None, part.count), name

    def _prefixes(self, source: Any) -> list[str]:
        try:
            given = self._prefix_map.get(source)
        except TypeError:  # an unhashable source cannot be a prefix_map key
            given = None
        if given is None:
            return [""]
        return [given] if isinstance(given, str) else list(given)


def _uses_plugin_hooks(cls: type) -> bool:
    """A user subclass overrides one of the plugin's listing hooks."""
    for klass in cls.__mro__:
        if klass.__module__.startswith("aisloader."):
            return False
        if any(hook in klass.__dict__ for hook in _HOOKS):
            return True
    return False
