"""`AsyncClient`: the asyncio AIS client (buckets, listing, object GET/HEAD/PUT/DELETE)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from types import TracebackType

from aisloader.config import ClientConfig, endpoint_from_env
from aisloader.core.batch.fetcher import BatchFetcher
from aisloader.core.buckets import BucketLike, BucketOps
from aisloader.core.http.payload import Payload, PutData
from aisloader.core.http.reader import ByteRange, ObjectReader
from aisloader.core.http.retry import Stats
from aisloader.core.http.session import Http, Request
from aisloader.core.http.wire import ObjectProps, props_from_headers
from aisloader.core.many import ManyOps, object_ref
from aisloader.core.ranges import read_ranges_bytes
from aisloader.errors import ChecksumMismatch, ConfigError, ObjectNotFound
from aisloader.etl import Etl, EtlLike
from aisloader.refs import RefLike

__all__ = ["AsyncClient", "BucketLike"]

_HEAD_PROPS = "name,size,checksum,atime,version"


class AsyncClient(BucketOps, ManyOps):
    """Asyncio client of one AIS cluster. Use ``async with`` (or call :meth:`aclose`).

    Bucket operations and ``list_objects`` come from :class:`~aisloader.core.buckets.BucketOps`;
    the many-object reads (``get_many``, ``get_batch``, ``get_all``, ``get_parallel``,
    ``sizes``) from :class:`~aisloader.core.many.ManyOps`.

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
        self._batch = BatchFetcher(self._http, self.config, self.get)

    def __repr__(self) -> str:
        return f"AsyncClient({self.endpoint!r})"

    @property
    def batch_api_available(self) -> bool:
        """False once the cluster answered that it has no get-batch (GETs serve it then)."""
        return self._batch.available

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
        self,
        ref: RefLike,
        *,
        byte_range: ByteRange | None = None,
        archpath: str | None = None,
        etl: EtlLike = None,
    ) -> bytes:
        """The object's bytes (or a range of them, or one archive member), transformed by the
        cluster when ``etl`` names a server-side ETL. A whole object of at least
        ``config.large_object_size`` bytes is read as concurrent range GETs (its first answer
        tells the size; its body is left unread).

        Raises:
            ObjectNotFound: no such object or member. RangeNotSatisfiable: bad range.
            ETLNotFound: the object exists but the cluster runs no such ETL.
            AISError, TransportError: as usual. IncompleteRead, ChecksumMismatch: bad bytes.
        """
        reader = self._reader(ref, byte_range, archpath, etl)
        try:
            if self._ranged(byte_range, archpath, etl):
                await reader.open()
                size, cfg = reader.size, self.config
                if size is not None and size >= cfg.large_object_size:
                    await reader.aclose()  # its body unread: the ranges read the object
                    return await read_ranges_bytes(
                        self._http,
                        object_ref(ref),
                        size,
                        workers=cfg.range_workers,
                        min_part=cfg.range_size,
                    )
            while True:
                chunks = []
                try:
                    while chunk := await reader.read():
                        chunks.append(chunk)
                    break
                except ChecksumMismatch as exc:  # found at the end: read it all again
                    await reader.restart(exc)
        finally:
            await reader.aclose()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _ranged(self, byte_range: ByteRange | None, archpath: str | None, etl: EtlLike) -> bool:
        """A whole-object read that may switch to ranges once its size is known."""
        cfg = self.config
        plain = byte_range is None and not archpath and not Etl.of(etl)
        return plain and cfg.large_object_size > 0 and not cfg.verify_checksums

    async def get_stream(
        self,
        ref: RefLike,
        *,
        byte_range: ByteRange | None = None,
        archpath: str | None = None,
        etl: EtlLike = None,
    ) -> AsyncGenerator[bytes, None]:
        """The object's bytes as chunks of up to ``config.chunk_size``; retried transparently.

        Raises:
            Same as :meth:`get`.
        """
        reader = self._reader(ref, byte_range, archpath, etl)
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
        etl: EtlLike = None,
    ) -> int:
        """Read the object into ``buffer``; return the byte count.

        Raises:
            ConfigError: ``buffer`` is too small (checked before reading the body).
            Same as :meth:`get` otherwise.
        """
        view = memoryview(buffer).cast("B")
        reader = self._reader(ref, byte_range, archpath, etl)
        try:
            while True:
                try:
                    await reader.open()
                    if reader.size is not None and reader.size > len(view):
                        raise ConfigError(
                            f"buffer of {len(view)} bytes < {reader.size} bytes of {ref}"
                        )
                    while chunk := await reader.read():
                        end = reader.delivered
                        if end > len(view):
                            raise ConfigError(f"buffer of {len(view)} bytes too small for {ref}")
                        view[end - len(chunk) : end] = chunk
                    break
                except ChecksumMismatch as exc:  # found at the end: read it all again
                    await reader.restart(exc)
        finally:
            await reader.aclose()
        return reader.delivered

    def _reader(
        self, ref: RefLike, byte_range: ByteRange | None, archpath: str | None, etl: EtlLike
    ) -> ObjectReader:
        spec = Etl.of(etl)
        return ObjectReader(
            self._http, object_ref(ref), byte_range=byte_range, archpath=archpath, etl=spec
        )

    async def head(self, ref: RefLike) -> ObjectProps:
        """The object's properties (size, checksum, atime, version, presence).

        Raises:
            ObjectNotFound: no such object. AISError, TransportError: as usual.
        """
        r = object_ref(ref)
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
        r = object_ref(ref)
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
        r = object_ref(ref)
        try:
            await self._http.fetch(Request("DELETE", r.path, r.uri, True, r.bucket.query))
        except ObjectNotFound:
            if not missing_ok:
                raise
