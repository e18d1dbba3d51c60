"""Many-object reads, shared by :class:`~aisloader.core.client.AsyncClient` (a mixin).

``get_many`` (a bounded window of GETs), ``get_batch`` (AIS get-batch through
:class:`~aisloader.core.batch.fetcher.BatchFetcher`), ``get_all`` (a whole list at once, for a
map-style batch), ``get_parallel`` (one large object as concurrent ranges) and ``sizes``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, TypeVar, overload

from aisloader.config import ClientConfig
from aisloader.core.batch.entry import BatchEntry, BatchValue, OutputFormat
from aisloader.core.batch.fetcher import BatchFetcher, Entries
from aisloader.core.http.session import Http
from aisloader.core.ranges import read_ranges, read_ranges_bytes
from aisloader.core.stages.window import amap, ordered_window
from aisloader.errors import ConfigError
from aisloader.etl import Etl, EtlLike
from aisloader.refs import ObjectRef, RefLike, as_ref

if TYPE_CHECKING:
    from aisloader.core.http.reader import ByteRange
    from aisloader.core.http.wire import ObjectProps

__all__ = ["ManyOps", "object_ref"]

_Bytes = TypeVar("_Bytes", bound=bytes)
_Buffer = TypeVar("_Buffer", bound=bytearray)


class ManyOps:
    """Reads of many objects (mixed into ``AsyncClient``; see module docs)."""

    _http: Http
    _batch: BatchFetcher
    config: ClientConfig

    if TYPE_CHECKING:

        async def get(
            self,
            ref: RefLike,
            *,
            byte_range: ByteRange | None = None,
            archpath: str | None = None,
            etl: EtlLike = None,
        ) -> bytes: ...

        async def head(self, ref: RefLike) -> ObjectProps: ...

    @overload
    async def get_parallel(
        self,
        ref: RefLike,
        *,
        workers: int = ...,
        min_part: int = ...,
        size: int | None = ...,
        etl: EtlLike = ...,
    ) -> bytes: ...

    @overload
    async def get_parallel(
        self,
        ref: RefLike,
        *,
        workers: int = ...,
        min_part: int = ...,
        size: int | None = ...,
        etl: EtlLike = ...,
        as_type: type[_Bytes],
    ) -> _Bytes: ...

    @overload
    async def get_parallel(
        self,
        ref: RefLike,
        *,
        workers: int = ...,
        min_part: int = ...,
        size: int | None = ...,
        etl: EtlLike = ...,
        as_type: type[_Buffer],
    ) -> _Buffer: ...

    async def get_parallel(
        self,
        ref: RefLike,
        *,
        workers: int = 16,
        min_part: int = 4 << 20,
        size: int | None = None,
        etl: EtlLike = None,
        as_type: type[bytes] | type[bytearray] = bytes,
    ) -> bytes | bytearray:
        """A large object read as up to ``workers`` concurrent range GETs of at least
        ``min_part`` bytes (:mod:`aisloader.core.ranges`). ``size`` saves the HEAD when the
        listing already gave it; an ``etl`` output cannot be ranged and is read with one GET.

        ``as_type`` is the result's type: ``bytes`` (default), ``bytearray`` or a subclass of
        either. A ``bytearray`` type is allocated at the object's size and each range is read
        straight into it (the fastest: the result is that buffer). ``bytes`` joins the ranges'
        chunks once at the end; a ``bytes`` subclass costs one more copy of the object.

        Raises:
            DataError: the object changed while its ranges were read, or is not ``size``
                bytes long.
            Same as :meth:`get` otherwise.
        """
        r = object_ref(ref)
        if Etl.of(etl) is not None:
            return as_type(await self.get(r, etl=etl))
        if size is None or size < 0:
            size = (await self.head(r)).size
        if workers <= 1 or size < 2 * min_part:
            return as_type(await self.get(r))
        if issubclass(as_type, bytearray):
            buffer = as_type(size)
            await read_ranges(self._http, r, buffer, workers=workers, min_part=min_part)
            return buffer
        data = await read_ranges_bytes(self._http, r, size, workers=workers, min_part=min_part)
        return as_type(data)  # the same object for ``bytes``; a copy for a subclass

    async def sizes(self, refs: Sequence[RefLike], *, window: int | None = None) -> list[int]:
        """The sizes of ``refs`` in order, with at most ``window`` HEADs in flight.

        Raises:
            Same as :meth:`head`, for the first failing object.
        """
        heads = ordered_window(
            [object_ref(r) for r in refs], self.head, window or self.config.window
        )
        async with aclosing(heads):
            return [props.size async for _, props in heads]

    def get_many(
        self,
        refs: Iterable[RefLike] | AsyncIterable[RefLike],
        *,
        window: int | None = None,
        ordered: bool = True,
        etl: EtlLike = None,
    ) -> AsyncGenerator[tuple[ObjectRef, bytes], None]:
        """Fetch many objects with at most ``window`` GETs in flight (an async generator).

        ``refs`` is consumed lazily. Pairs come in request order, or in completion order
        with ``ordered=False``. In order, an object in retry does not stop the fetching: up to
        ``config.read_ahead`` objects (``config.read_ahead_bytes``) are fetched past it and
        held until it arrives (:mod:`~aisloader.core.stages.window`). Stopping early
        (``aclose()``, or garbage collection after a ``break``) cancels and awaits the GETs in
        flight.

        Raises:
            ConfigError: a malformed reference (raised while iterating).
            Same as :meth:`get`, for the first failing object (the rest are cancelled).
        """
        spec = Etl.of(etl)

        async def get(ref: ObjectRef) -> bytes:
            return await self.get(ref, etl=spec)

        fetch = self.get if spec is None else get
        cfg = self.config
        return ordered_window(
            amap(object_ref, refs),
            fetch,
            window or cfg.window,
            ordered,
            ahead=cfg.read_ahead,
            ahead_bytes=cfg.read_ahead_bytes,
        )

    def get_batch(
        self,
        entries: Entries,
        *,
        batch_size: int | None = None,
        output_format: OutputFormat = ".tar",
        streaming: bool = True,
        continue_on_error: bool = True,
        etl: EtlLike = None,
        colocation: int = 0,
    ) -> AsyncGenerator[tuple[BatchEntry, BatchValue], None]:
        """Many objects (or archive members / ranges) per request, in request order.

        See :mod:`aisloader.core.batch.fetcher`. A missing entry yields an ``ObjectNotFound``
        value (``continue_on_error=True``) instead of bytes. AIS get-batch applies no ETL, so
        with ``etl`` the entries are read with concurrent GETs through the ETL instead (never
        untransformed bytes).

        Raises:
            ObjectNotFound: a missing entry with ``continue_on_error=False``.
            ConfigError: an unknown output format, batch size < 1 or colocation level.
            IncompleteRead: the stream kept ending early after the retry budget.
        """
        return self._batch.get_batch(
            entries,
            batch_size=batch_size,
            output_format=output_format,
            streaming=streaming,
            continue_on_error=continue_on_error,
            etl=Etl.of(etl),
            colocation=colocation,
        )

    async def get_all(
        self,
        entries: Sequence[BatchEntry | RefLike],
        *,
        batch_api: bool = False,
        etl: EtlLike = None,
    ) -> list[bytes]:
        """The data of every entry, in order, all fetched concurrently: one get-batch request
        (``batch_api=True``; GETs on clusters without it, or through an ``etl``) or a window
        of plain GETs.

        Raises:
            ObjectNotFound: an entry is missing (no partial result).
            ConfigError: a malformed entry.
            AISError, TransportError, DataError: as for :meth:`get`.
        """
        items = [BatchEntry.of(e) for e in entries]
        spec = Etl.of(etl)
        if batch_api and spec is None:
            pairs = self.get_batch(items, batch_size=len(items) or 1, continue_on_error=False)
            async with aclosing(pairs):
                return [value async for _, value in pairs]  # type: ignore[misc]

        async def one(entry: BatchEntry) -> bytes:
            return await self._batch.get_entry(entry, spec)

        window = ordered_window(items, one, self.config.window)
        async with aclosing(window):
            return [data async for _, data in window]


def object_ref(ref: RefLike) -> ObjectRef:
    """``ref`` as an :class:`ObjectRef`.

    Raises:
        ConfigError: a malformed reference.
    """
    try:
        return as_ref(ref)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
