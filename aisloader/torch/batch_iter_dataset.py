"""``AISBatchIterDataset``: objects through get-batch, pipelined, split across ranks × workers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from aisloader.core.streams.batches import BatchStream
from aisloader.errors import ConfigError
from aisloader.etl import EtlLike
from aisloader.torch._base import ResumableIterable, _Progress
from aisloader.torch._sig import spelled_out
from aisloader.torch.base_iter_dataset import AISBaseIterDataset

__all__ = ["AISBatchIterDataset"]


@spelled_out()
class AISBatchIterDataset(AISBaseIterDataset, ResumableIterable):
    """Iterable dataset of ``(object_name, bytes)`` read with AIS get-batch (the plugin's name).

    Unlike the official one it keeps ``config.batches_in_flight`` requests on the wire while the
    current batch is consumed, splits objects across ranks × workers exactly once, shuffles with
    a seed per epoch, and never drops a missing object silently: ``cont_on_err=False`` (the
    default) raises :class:`ObjectNotFound` naming it; ``True`` skips it, logs a warning and
    records its URL in :attr:`skipped` (the current epoch, in the process that reads: with
    DataLoader workers, each worker's copy). Clusters without get-batch are read with
    concurrent GETs instead.

    Args:
        ais_source_list: sources, as for the other datasets (SDK objects bring their cluster).
        client: an official SDK ``Client`` (as in the plugin: its endpoint, token, TLS and
            timeouts are used) or an aisloader ``Client``/``AsyncClient``; optional.
        prefix_map: source → prefix(es).
        show_progress: a tqdm bar per consumer.
        max_batch_size: entries per get-batch request (``batch_size=`` is accepted too).
        output_format: ``.tar`` (fastest), ``.tgz``/``.tar.gz`` or ``.zip``.
        streaming: stream the archive (True) or use the buffered multipart answer.
        colocation: the SDK's ``Colocation`` (or 0/1): passed to the cluster as its hint;
            ``TARGET_AND_SHARD_AWARE`` raises ``NotImplementedError`` as in the SDK.
        partition_sources_by_worker: accepted; objects are always split exactly once.
        cont_on_err: skip (and record) missing objects instead of raising.
        etl_name: a server-side ETL; AIS get-batch applies none, so objects are then read with
            concurrent GETs through it (never silently untransformed).
        shuffle / seed / equal / endpoint / config / transform / rank / world_size: as for
            :class:`~aisloader.torch.AISIterDataset`.

    Raises:
        ConfigError: ``max_batch_size`` < 1, a malformed source, or no endpoint.
        NotImplementedError: ``colocation=TARGET_AND_SHARD_AWARE``.
        ObjectNotFound: while iterating, a missing object with ``cont_on_err=False``.
        AISError, TransportError, DataError: while iterating, as for the other datasets.
    """

    def __init__(
        self,
        ais_source_list: Any = None,
        client: Any = None,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        show_progress: bool = False,
        max_batch_size: int = 32,
        output_format: Literal[".tar", ".tgz", ".tar.gz", ".zip"] = ".tar",
        streaming: bool = True,
        colocation: Any = 0,
        partition_sources_by_worker: bool = False,
        cont_on_err: bool = False,
        *,
        batch_size: int | None = None,
        etl_name: EtlLike = None,
        shuffle: bool = False,
        seed: int = 0,
        equal: Literal["pad", "drop"] | None = None,
        **kwargs: Any,
    ) -> None:
        size = max_batch_size if batch_size is None else batch_size
        if size < 1:
            raise ConfigError(f"max_batch_size must be >= 1, got {size}")
        stream = BatchStream(
            ais_source_list,
            prefix_map=prefix_map,
            shuffle=shuffle,
            seed=seed,
            batch_size=size,
            output_format=output_format,
            streaming=streaming,
            continue_on_error=cont_on_err,
            colocation=_colocation(colocation),
            etl=etl_name,
            yield_missing=True,  # counted as positions (resume), never handed out
            equal=equal,
        )
        super().__init__(
            ais_source_list,
            prefix_map,
            partition_sources_by_worker,
            etl_name=etl_name,
            stream=stream,
            client=client,
            show_progress=show_progress,
            **kwargs,
        )

    def _take(self, progress: _Progress, item: Any) -> bool:
        progress.delivered += 1  # a skipped missing object still takes its position
        return item[1] is not None

    @property
    def skipped(self) -> list[str]:
        """URLs of the missing objects skipped in the current epoch (``cont_on_err=True``), in
        the process that reads (with DataLoader workers, each worker's copy)."""
        live = self._live
        return live.skipped if isinstance(live, BatchStream) else []


def _colocation(value: Any) -> int:
    """The SDK's ``Colocation`` enum (or an int) as AIS's level.

    Raises:
        NotImplementedError: level 2 (target- and shard-aware), as the SDK raises.
        ConfigError: any other value.
    """
    level = int(getattr(value, "value", value) or 0)
    if level == 2:
        raise NotImplementedError(
            "Colocation.TARGET_AND_SHARD_AWARE is not yet implemented on the server side."
        )
    if level not in (0, 1):
        raise ConfigError(f"colocation must be NONE (0) or TARGET_AWARE (1), got {value!r}")
    return level
