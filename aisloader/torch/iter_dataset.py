"""``AISIterDataset``: an iterable dataset of ``(object_name, bytes)`` (the plugin's name)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aisloader.etl import EtlLike
from aisloader.torch._base import ResumableIterable
from aisloader.torch._sig import spelled_out
from aisloader.torch.base_iter_dataset import AISBaseIterDataset

__all__ = ["AISIterDataset"]


@spelled_out()
class AISIterDataset(AISBaseIterDataset, ResumableIterable):
    """Iterable dataset of ``(object_name, bytes)`` samples (``aistore.pytorch`` compatible).

    Args:
        ais_source_list / prefix_map: the sources (SDK objects bring their cluster).
        etl_name: a server-side ETL applied to every object.
        show_progress: a tqdm bar per consumer.
        partition_sources_by_worker: as in :class:`AISBaseIterDataset` (objects are always
            split across ranks × workers exactly once).
        **kwargs: the keyword options of :class:`AISBaseIterDataset` (``window``, ``shuffle``,
            ``seed``, ``client``, ``endpoint``, ``config``, ``transform``, ``rank``,
            ``world_size``).

    Resumes mid-epoch: ``state_dict()`` / ``load_state_dict()`` (see
    :class:`~aisloader.torch._base.ResumableIterable`).

    Raises:
        ConfigError: no source or a malformed one; nothing matched (first iteration).
        BucketNotFound: a bucket does not exist (first iteration).
    """

    def __init__(
        self,
        ais_source_list: Any = None,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        etl_name: EtlLike = None,
        show_progress: bool = False,
        partition_sources_by_worker: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            ais_source_list,
            prefix_map,
            partition_sources_by_worker,
            etl_name=etl_name,
            show_progress=show_progress,
            **kwargs,
        )
