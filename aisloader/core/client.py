"""`AsyncClient`: the asyncio AIS client (buckets, listing, object GET/HEAD/PUT/DELETE)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from types import TracebackType

from aisloader.config import ClientConfig, endpoint_from_env
from aisloader.core.batch import BatchEntry, BatchValue, OutputFormat, get_batch
from aisloader.core.buckets import BucketLike, BucketOps
from aisloader.core.fetch import amap, ordered_window
from aisloader.core.http import Http, Request
from aisloader.core.payload import Payload, PutData
from aisloader.core.reader import ByteRange, ObjectReader
from aisloader.core.retry import Stats
from aisloader.core.wire import ObjectProps, props_from_headers
from aisloader.errors import ConfigError, ObjectNotFound
from aisloader.refs import ObjectRef, RefLike, as_ref

__all__ = ["AsyncClient", "BucketLike"]

_HEAD_PROPS = "name,size,checksum,atime,version"


class AsyncClient(BucketOps):
    """Asyncio client of one AIS cluster. Use ``async with`` (or call :meth:`aclose`).

    Bucket operations and ``list_objects`` come from :class:`~aisloader.core.buckets.BucketOps`.

    Args:
        endpoint: proxy URL; defaults to ``$AIS_ENDPOINT``.
        config: every knob; defaults to ``ClientConfig.from_env()``.

    Raises:
        ConfigError: no endpoint, or an invalid configuration in the environment.
    """

    def __init__(self, endpoint: str | None = None, *, config: ClientConfig | None = None) -> None:
        self.endpoint = endpoint_from_env(endpoint)
        self.config = ClientConfig.from_env() if config is None else config
        self._http = Http(self.endpoint, self.config)
        self.batch_api_available = True
        """False once the cluster answered that get-batch is not available (set by core.batch)."""

    def __repr__(self) -> str:
        return f"AsyncClient({self.endpoint!r})"

    @property
    def http(self) -> Http:
        """The HTTP layer (session, retries, error translation), for the core's own stages."""
        return self._http

    @property
    def stats(self) -> Stats:
        """Request, retry, redirect, byte and error counters of this client."""
        return self._http.stats

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session and its connections (idempotent)."""
        await self._http.aclose()

    # ------------------------------------------------------------------ objects

    async def get(
        self, ref: RefLike, *, byte_range: ByteRange | None = None, archpath: str | None = None
    ) -> bytes:
        """The object's bytes (or a range of them, or one archive member).

        Raises:
            ObjectNotFound: no such object or member. RangeNotSatisfiable: bad range.
            AISError, TransportError: as usual. IncompleteRead, ChecksumMismatch: bad bytes.
        """
        reader = ObjectReader(self._http, _ref(ref), byte_range=byte_range, archpath=archpath)
        chunks = []
        try:
            while chunk := await reader.read():
                chunks.append(chunk)
        finally:
            await reader.aclose()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def get_stream(
        self, ref: RefLike, *, byte_range: ByteRange | None = None, archpath: str | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The object's bytes as chunks of up to ``config.chunk_size``; retried transparently.

        Raises:
            Same as :meth:`get`.
        """
        reader = ObjectReader(self._http, _ref(ref), byte_range=byte_range, archpath=archpath)
        try:
            while chunk := await reader.read():
                yield chunk
        finally:
            await reader.aclose()

    async def get_into(
        self,
        ref: RefLike,
        buffer: bytearray | memoryview,
        *,
        byte_range: ByteRange | None = None,
        archpath: str | None = None,
    ) -> int:
        """Read the object into ``buffer``; return the byte count.

        Raises:
            ConfigError: ``buffer`` is too small (checked before reading the body).
            Same as :meth:`get` otherwise.
        """
        view = memoryview(buffer).cast("B")
        reader = ObjectReader(self._http, _ref(ref), byte_range=byte_range, archpath=archpath)
        try:
            await reader.open()
            if reader.size is not None and reader.size > len(view):
                raise ConfigError(f"buffer of {len(view)} bytes < {reader.size} bytes of {ref}")
            while chunk := await reader.read():
                end = reader.delivered
                if end > len(view):
                    raise ConfigError(f"buffer of {len(view)} bytes too small for {ref}")
                view[end - len(chunk) : end] = chunk
        finally:
            await reader.aclose()
        return reader.delivered

    async def head(self, ref: RefLike) -> ObjectProps:
        """The object's properties (size, checksum, atime, version, presence).

        Raises:
            ObjectNotFound: no such object. AISError, TransportError: as usual.
        """
        r = _ref(ref)
        params = {**r.bucket.query, "props": _HEAD_PROPS}
        req = Request("HEAD", r.path, r.uri, True, params, uname=r.uname)
        resp = await self._http.send(req, self._http.attempts())
        resp.release()
        return props_from_headers(resp.headers, resp.content_length or 0)

    async def put(self, ref: RefLike, data: PutData) -> ObjectProps:
        """Store ``data`` (bytes, a seekable binary file, or an async iterable of chunks).

        The body crosses the network once: the proxy gets the length only, the target the
        bytes. An async-iterable body is not retried once it started to flow.

        Raises:
            ConfigError: unsupported ``data``. AISError, TransportError: as usual.
        """
        r = _ref(ref)
        payload = Payload(data, self.config.chunk_size)
        req = Request("PUT", r.path, r.uri, True, r.bucket.query, payload=payload)
        resp = await self._http.send(req, self._http.attempts())
        resp.release()
        return props_from_headers(resp.headers, payload.length or 0)

    async def delete(self, ref: RefLike, *, missing_ok: bool = False) -> None:
        """Delete the object.

        Raises:
            ObjectNotFound: no such object and ``missing_ok`` is false.
            AISError, TransportError: as usual.
        """
        r = _ref(ref)
        try:
            await self._http.fetch(Request("DELETE", r.path, r.uri, True, r.bucket.query))
        except ObjectNotFound:
            if not missing_ok:
                raise

    def get_many(
        self,
        refs: Iterable[RefLike] | AsyncIterable[RefLike],
        *,
        window: int | None = None,
        ordered: bool = True,
    ) -> AsyncGenerator[tuple[ObjectRef, bytes], None]:
        """Fetch many objects with at most ``window`` GETs in flight (an async generator).

        ``refs`` is consumed lazily. Pairs come in request order, or in completion order
        with ``ordered=False``. Stopping early (``aclose()``, or garbage collection after a
        ``break``) cancels and awaits the GETs in flight.

        Raises:
            ConfigError: a malformed reference (raised while iterating).
            Same as :meth:`get`, for the first failing object (the rest are cancelled).
        """
        return ordered_window(amap(_ref, refs), self.get, window or self.config.window, ordered)

    def get_batch(
        self,
        entries: Iterable[BatchEntry | RefLike] | AsyncIterable[BatchEntry | RefLike],
        *,
        batch_size: int | None = None,
        output_format: OutputFormat = ".tar",
        streaming: bool = True,
        continue_on_error: bool = True,
    ) -> AsyncGenerator[tuple[BatchEntry, BatchValue], None]:
        """Many objects (or archive members / ranges) per request, in request order.

        See :mod:`aisloader.core.batch`. A missing entry yields an ``ObjectNotFound`` value
        (``continue_on_error=True``) instead of bytes.

        Raises:
            ObjectNotFound: a missing entry with ``continue_on_error=False``.
            ConfigError: an unknown output format or batch size < 1.
            IncompleteRead: the stream kept ending early after the retry budget.
        """
        return get_batch(
            self,
            entries,
            batch_size=batch_size,
            output_format=output_format,
            streaming=streaming,
            continue_on_error=continue_on_error,
        )


def _ref(ref: RefLike) -> ObjectRef:
    try:
        return as_ref(ref)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
