"""Get-batch streams: the objects of an epoch read many per request, several requests in flight.

:class:`BatchStream` reads its part's positions through the client's
:meth:`~aisloader.core.client.AsyncClient.get_batch`; clusters without get-batch are read with
concurrent GETs instead. A missing object raises :class:`~aisloader.errors.ObjectNotFound`
naming it, or — with ``continue_on_error=True`` — is skipped, logged (``aisloader.batch``)
and its URL recorded in :attr:`BatchStream.skipped` (the current epoch only).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from typing import Any

from aisloader.core.batch.entry import BatchEntry, OutputFormat
from aisloader.core.streams.base import EpochStream
from aisloader.errors import ConfigError, ObjectNotFound

__all__ = ["BatchStream"]

_log = logging.getLogger("aisloader.batch")


class BatchStream(EpochStream[tuple[str, bytes]]):
    """``(object_name, bytes)`` of every object, once per epoch, through get-batch.

    Args:
        batch_size: entries per get-batch request (default ``config.batch_size``).
        output_format: ``.tar`` (fastest), ``.tgz``/``.tar.gz`` or ``.zip``.
        streaming: stream the archive (True) or use the buffered multipart answer.
        continue_on_error: skip (and record) missing objects instead of raising.
        colocation: AIS's hint for choosing the assembling target (0 none, 1 target-aware).
        yield_missing: with ``continue_on_error``, yield ``(name, None)`` for a missing
            object instead of nothing, so a consumer can count positions (resume).
        **kwargs: as for :class:`~aisloader.core.streams.base.EpochStream`.

    Raises:
        ConfigError: ``batch_size`` < 1 or a bad source.
        ObjectNotFound: while iterating, a missing object with ``continue_on_error=False``.
    """

    def __init__(
        self,
        ais_source_list: Any,
        *,
        batch_size: int | None = None,
        output_format: OutputFormat = ".tar",
        streaming: bool = True,
        continue_on_error: bool = False,
        colocation: int = 0,
        yield_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"max_batch_size must be >= 1, got {batch_size}")
        super().__init__(ais_source_list, **kwargs)
        self.batch_size, self.output_format = batch_size, output_format
        self.streaming, self.continue_on_error = streaming, continue_on_error
        self.colocation, self.yield_missing = colocation, yield_missing
        self.skipped: list[str] = []

    def _reset(self) -> None:
        self.skipped = []

    def _hidden(self, item: tuple[str, bytes]) -> bool:
        return item[1] is None and not self.yield_missing  # counted, not handed out

    async def batches(
        self, max_count: int | None = None, max_bytes: int | None = None
    ) -> AsyncGenerator[list[tuple[str, bytes]], None]:
        """As :meth:`EpochStream.batches`, without the missing objects unless
        ``yield_missing``."""
        async with aclosing(super().batches(max_count, max_bytes)) as lists:
            async for items in lists:
                kept = [i for i in items if not self._hidden(i)]
                if kept:
                    yield kept

    def _nbytes(self, item: tuple[str, bytes]) -> int:
        return len(item[1]) if item[1] is not None else 0

    async def _items(self) -> AsyncGenerator[tuple[str, bytes], None]:
        manifest = await self.manifest()
        self.skipped = []  # bounded: the missing objects of the current epoch only

        def entries() -> Iterator[BatchEntry]:
            for index in self.positions(manifest):
                yield BatchEntry(manifest.ref(index))

        pairs = self.client.get_batch(
            entries(),
            batch_size=self.batch_size,
            output_format=self.output_format,
            streaming=self.streaming,
            continue_on_error=self.continue_on_error,
            etl=self.etl,
            colocation=self.colocation,
        )
        async with aclosing(pairs):
            async for entry, value in pairs:
                if isinstance(value, ObjectNotFound):
                    self.skipped.append(entry.uri)
                    _log.warning("skipped missing %s (continue_on_error=True)", entry.uri)
                    yield entry.ref.name, None  # type: ignore[misc]  # a position (resume)
                    continue
                yield entry.ref.name, value
