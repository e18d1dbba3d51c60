"""``AISBatchIterDataset``: objects through get-batch, pipelined, split across ranks × workers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal

from aisloader.core.batch import get_batch
from aisloader.core.client import AsyncClient
from aisloader.core.manifest import Manifest
from aisloader.core.order import Part
from aisloader.core.stream import epoch_refs
from aisloader.errors import ConfigError, ObjectNotFound
from aisloader.torch._base import ObjectIterable

__all__ = ["AISBatchIterDataset"]


class AISBatchIterDataset(ObjectIterable):
    """Iterable dataset of ``(object_name, bytes)`` read with AIS get-batch (the plugin's name).

    Unlike the official one it keeps ``config.batches_in_flight`` requests on the wire while the
    current batch is consumed, splits objects across ranks × workers exactly once, shuffles with
    a seed per epoch, and never drops a missing object silently: ``cont_on_err=False`` (the
    default) raises :class:`ObjectNotFound` naming it; ``True`` skips it and records its URL in
    :attr:`skipped` (the current epoch, in the process that reads: with DataLoader workers,
    each worker's copy). Clusters without get-batch are read with concurrent GETs instead.

    Args:
        ais_source_list: sources, as for the other datasets.
        client: an aisloader ``Client``/``AsyncClient``, or an official SDK ``Client`` (its
            endpoint is reused); optional (env defaults).
        prefix_map: source → prefix(es).
        show_progress: a tqdm bar per consumer.
        max_batch_size: entries per get-batch request.
        output_format: ``.tar`` (fastest), ``.tgz``/``.tar.gz`` or ``.zip``.
        streaming: stream the archive (True) or use the buffered multipart answer.
        colocation / partition_sources_by_worker: accepted for compatibility, ignored.
        cont_on_err: skip (and count) missing objects instead of raising.
        shuffle / seed / endpoint / config / transform / rank / world_size: as elsewhere.

    Raises:
        ConfigError: ``max_batch_size`` < 1, a malformed source, or no endpoint.
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
        colocation: Any = None,
        partition_sources_by_worker: bool = False,
        cont_on_err: bool = False,
        **kwargs: Any,
    ) -> None:
        if max_batch_size < 1:
            raise ConfigError(f"max_batch_size must be >= 1, got {max_batch_size}")
        sdk_endpoint = _sdk_endpoint(client)
        if sdk_endpoint is not None:
            client, kwargs["endpoint"] = None, kwargs.get("endpoint") or sdk_endpoint
        super().__init__(
            ais_source_list, prefix_map, client=client, show_progress=show_progress, **kwargs
        )
        self._batch_size, self._format, self._streaming = max_batch_size, output_format, streaming
        self._cont_on_err = cont_on_err
        self.skipped: list[str] = []

    def _needs_manifest(self, part: Part) -> bool:
        return True

    async def _stream(
        self, client: AsyncClient, part: Part, epoch: int, manifest: Manifest | None
    ) -> AsyncIterator[Any]:
        assert manifest is not None
        self.skipped = []  # bounded: the missing objects of the current epoch only
        refs = epoch_refs(manifest, part, epoch=epoch, seed=self._seed, shuffle=self._shuffle)
        pairs = get_batch(
            client,
            refs,
            batch_size=self._batch_size,
            output_format=self._format,
            streaming=self._streaming,
            continue_on_error=self._cont_on_err,
        )
        try:
            async for entry, value in pairs:
                if isinstance(value, ObjectNotFound):
                    self.skipped.append(entry.uri)
                    continue
                yield entry.ref.name, value
        finally:
            await pairs.aclose()


def _sdk_endpoint(client: Any) -> str | None:
    """The endpoint of an official SDK ``Client`` (duck-typed), else None."""
    request_client = getattr(client, "_request_client", None)
    base = getattr(request_client, "base_url", None) if request_client is not None else None
    if isinstance(base, str) and base:
        return base.removesuffix("/v1").rstrip("/")
    return None
