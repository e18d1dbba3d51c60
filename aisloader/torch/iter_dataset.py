"""Iterable datasets: ``AISBaseIterDataset`` and ``AISIterDataset`` (the plugin's names).

Each object is read exactly once per epoch across torch.distributed ranks × DataLoader workers
(one split rule: :func:`aisloader.core.order.split`). Workers do not each list the bucket: a
lone unshuffled reader streams the listing straight into its fetch window; otherwise the
listing is made once per node and shared through a file, and kept for later epochs.
``shuffle=True`` applies a seeded permutation that is identical on every rank and changes
every epoch. Objects cross from the loop thread to the consumer in lists (up to 16 objects or
256 KiB, see :meth:`~aisloader.core.stream.ObjectStream.batches`), so the bridge costs one hop
per list; ``config.bridge_queue`` bounds the lists queued.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import aclosing
from typing import Any

from aisloader.core.client import AsyncClient
from aisloader.core.manifest import Manifest
from aisloader.core.order import Part
from aisloader.core.stream import ObjectStream
from aisloader.errors import ConfigError
from aisloader.torch._base import ObjectIterable

__all__ = ["AISBaseIterDataset", "AISIterDataset"]


class AISBaseIterDataset(ObjectIterable):
    """Base for iterable datasets over AIS objects; subclasses override :meth:`make_sample`.

    Args:
        ais_source_list: sources, as for :class:`~aisloader.torch.AISMapDataset`.
        prefix_map: source → prefix or list of prefixes.
        client / endpoint / config: where and how to connect (env defaults).
        shuffle: seeded random order, different each epoch, the same on every rank.
        seed: shuffle seed.
        transform: applied to each object's bytes in the consuming process.
        show_progress: a tqdm bar per consumer.
        window: GETs in flight per consumer (default ``config.window``).
        rank / world_size: override torch.distributed detection.

    Raises:
        ConfigError: no source or a malformed one (at construction); nothing matched (first
            iteration).
        BucketNotFound: a bucket does not exist (first iteration).
    """

    def __init__(
        self,
        ais_source_list: Any = None,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        *,
        window: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(ais_source_list, prefix_map, **kwargs)
        self._window = window

    async def _stream(
        self, client: AsyncClient, part: Part, epoch: int, manifest: Manifest | None
    ) -> AsyncIterator[Any]:
        stream = ObjectStream(
            self._sources,
            client=client,
            shuffle=self._shuffle,
            seed=self._seed,
            part=part,
            window=self._window,
            manifest=manifest,
        )
        stream.set_epoch(epoch)
        async with aclosing(stream.batches()) as batches:
            async for batch in batches:  # lists: one bridge hop per list, not per object
                yield batch
        if manifest is None and stream.listed is not None:
            self._manifest = stream.listed  # later epochs reuse the streamed listing

    def _unpack(self, items: Iterator[Any]) -> Iterator[Any]:
        return itertools.chain.from_iterable(items)

    def make_sample(self, item: Any) -> Any:
        """Turn ``(object_name, data)`` into a sample; the default returns it unchanged."""
        return item


class AISIterDataset(AISBaseIterDataset):
    """Iterable dataset of ``(object_name, bytes)`` samples (``aistore.pytorch`` compatible).

    The plugin's ``etl_name`` must be ``None``; ``partition_sources_by_worker`` is accepted and
    ignored (aisloader always splits objects, not sources, across ranks × workers).
    """

    def __init__(
        self,
        ais_source_list: Any = None,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        etl_name: str | None = None,
        show_progress: bool = False,
        partition_sources_by_worker: bool = False,
        **kwargs: Any,
    ) -> None:
        if etl_name is not None:
            raise ConfigError("etl_name is not supported by aisloader; apply transform= instead")
        super().__init__(ais_source_list, prefix_map, show_progress=show_progress, **kwargs)
