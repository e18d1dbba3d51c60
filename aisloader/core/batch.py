"""Get-batch (MOSS): many objects, members or ranges in one ordered archive stream.

``get_batch`` splits the entries into requests of ``batch_size``, keeps
``config.batches_in_flight`` requests on the wire, and yields ``(entry, data)`` in request
order. Each response is parsed as it arrives and checked member by member against the request:
a member must carry the entry's name (``bucket/object[/archpath]``); a ``__404__/…`` placeholder
becomes an :class:`~aisloader.errors.ObjectNotFound` value for that entry
(``continue_on_error=True``) or is raised — never empty bytes, since a real object can be empty.

A stream that ends early (the cluster commits 200 and then truncates: a fault, a peer failure,
or more than ``max_soft_errs`` missing entries) is detected by counting members, and the rest is
requested again. An answer that brought nothing (a cut zip, a cut buffered answer) costs one
retry attempt with backoff and narrows the next requests of that chunk to
:data:`SOFT_ERROR_LIMIT` entries, which the soft-error limit cannot refuse; a buffered answer
refused with 400 (that limit) is narrowed the same way. Two empty answers in a row make the
entry at their head fetched alone with a plain GET, so a bad entry (an out-of-bounds range, say)
raises its own typed error instead of a vague one, and every round makes progress. A cluster
without get-batch (501, 405, or a 404 without an AIS error code on ``/v1/ml/moss``) is
remembered and served by concurrent per-object GETs instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import aiohttp

from aisloader.core.fetch import ordered_window
from aisloader.core.http import NETWORK_ERRORS, Request
from aisloader.core.mossfmt import ArchiveReader, read_multipart
from aisloader.core.retry import Attempts
from aisloader.errors import (
    AISError,
    ConfigError,
    DataError,
    IncompleteRead,
    ObjectNotFound,
    RangeNotSatisfiable,
    ShardFormatError,
)
from aisloader.refs import ObjectRef, RefLike, as_ref

if TYPE_CHECKING:
    from aisloader.core.client import AsyncClient

__all__ = ["SOFT_ERROR_LIMIT", "BatchEntry", "BatchValue", "OutputFormat", "get_batch"]

OutputFormat = Literal[".tar", ".tgz", ".tar.gz", ".zip"]
_FORMATS = (".tar", ".tgz", ".tar.gz", ".zip")
_MISSING = "__404__/"
SOFT_ERROR_LIMIT = 8
"""AIS ``get_batch.max_soft_errs`` default: a request this wide never hits the limit."""


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One item of a get-batch request.

    Attributes:
        ref: the object (or the shard holding ``archpath``).
        archpath: a member of the archive object to return instead of the object.
        start: first byte of a range (with ``length``).
        length: bytes of the range; 0 with start 0 = whole; -1 = from ``start`` to the end.

    Raises:
        ConfigError: a namespaced bucket (not addressable by get-batch here), or a range the
            cluster rejects anyway (negative start, ``length < -1``, start > 0 with length 0).
    """

    ref: ObjectRef
    archpath: str = ""
    start: int = 0
    length: int = 0

    def __post_init__(self) -> None:
        if self.start < 0 or self.length < -1 or (self.start and not self.length):
            raise ConfigError(
                f"bad get-batch range start={self.start} length={self.length} for "
                f"{self.ref.uri}: use length > 0, or -1 for 'to the end'"
            )
        if self.ref.bucket.namespace:
            raise ConfigError(f"get-batch entries cannot name namespaced buckets: {self.ref.uri}")

    @classmethod
    def of(cls, item: BatchEntry | RefLike) -> BatchEntry:
        """Accept an entry, an ``ais://`` URL, an :class:`ObjectRef` or a (bucket, name) pair.

        Raises:
            ConfigError: a malformed reference.
        """
        if isinstance(item, BatchEntry):
            return item
        try:
            return cls(as_ref(item))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def member_name(self) -> str:
        """The archive member name the cluster uses for this entry."""
        name = f"{self.ref.bucket.name}/{self.ref.name}"
        if not self.archpath:
            return name
        return name + (self.archpath if self.archpath.startswith("/") else "/" + self.archpath)

    @property
    def uri(self) -> str:
        """``ais://bucket/object[?archpath=…]`` for messages."""
        return self.ref.uri + (f"?archpath={self.archpath}" if self.archpath else "")

    def wire(self) -> dict[str, object]:
        """The MossIn JSON of this entry."""
        out: dict[str, object] = {
            "objname": self.ref.name,
            "bucket": self.ref.bucket.name,
            "provider": self.ref.bucket.provider,
        }
        if self.archpath:
            out["archpath"] = self.archpath
        if self.start or self.length:
            out["start"], out["length"] = self.start, self.length
        return out


BatchValue = bytes | ObjectNotFound
"""Data of an entry, or the typed error of a missing entry (``continue_on_error=True``)."""


async def get_batch(
    client: AsyncClient,
    entries: Iterable[BatchEntry | RefLike] | AsyncIterable[BatchEntry | RefLike],
    *,
    batch_size: int | None = None,
    output_format: OutputFormat = ".tar",
    streaming: bool = True,
    continue_on_error: bool = True,
) -> AsyncGenerator[tuple[BatchEntry, BatchValue], None]:
    """See the module docs; ``client.get_batch`` is the public entry point.

    Raises:
        ObjectNotFound: a missing entry with ``continue_on_error=False``.
        ConfigError: an unknown output format, batch size < 1, or a malformed entry.
        IncompleteRead: the stream kept ending early after the retry budget.
        DataError: the cluster answered members that do not match the request.
    """
    if output_format not in _FORMATS:
        raise ConfigError(f"unknown get-batch output_format {output_format!r}: .tar/.tgz/.zip")
    size = batch_size or client.config.batch_size
    if size < 1:
        raise ConfigError(f"get-batch batch_size must be >= 1, got {size}")
    fetcher = _Fetcher(client, output_format, streaming)
    source = _chunks(entries, size)
    chunks = ordered_window(source, fetcher.fetch, client.config.batches_in_flight)
    try:
        async for chunk, values in chunks:
            for entry, value in zip(chunk, values, strict=True):
                if isinstance(value, ObjectNotFound) and not continue_on_error:
                    raise value
                yield entry, value
    finally:
        await chunks.aclose()
        await source.aclose()


async def _chunks(
    entries: Iterable[BatchEntry | RefLike] | AsyncIterable[BatchEntry | RefLike], size: int
) -> AsyncGenerator[list[BatchEntry], None]:
    chunk: list[BatchEntry] = []
    if isinstance(entries, AsyncIterable):
        async for item in entries:
            chunk.append(BatchEntry.of(item))
            if len(chunk) == size:
                yield chunk
                chunk = []
    else:
        for item in entries:
            chunk.append(BatchEntry.of(item))
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


class _Fetcher:
    """Fetches one chunk: get-batch with tail re-requests, or the per-object fallback."""

    def __init__(self, client: AsyncClient, output_format: str, streaming: bool) -> None:
        self.client, self.fmt, self.streaming = client, output_format, streaming

    async def fetch(self, chunk: list[BatchEntry]) -> list[BatchValue]:
        if not self.client.batch_api_available:
            return await self._fallback(chunk)
        values: list[BatchValue] = []
        attempts = self.client.http.attempts()
        width, stalled = len(chunk), 0
        while len(values) < len(chunk):
            tail = chunk[len(values) : len(values) + width]
            if stalled >= 2:  # the same entry stopped two answers: get it alone (or its error)
                values.extend(await self._fallback(tail[:1]))
                stalled = 0
                continue
            try:
                got = await self._request(tail, attempts)
            except AISError as exc:
                if _no_batch_api(exc):
                    self.client.batch_api_available = False
                    return values + await self._fallback(chunk[len(values) :])
                if exc.status == 400 and width > SOFT_ERROR_LIMIT:  # buffered, past the limit
                    width = SOFT_ERROR_LIMIT
                    continue
                raise
            values.extend(got)
            if not got:
                stalled += 1
                width = min(width, SOFT_ERROR_LIMIT)
                await attempts.again(_cut_short(tail))
            else:
                stalled = 0
        return values

    async def _request(self, tail: Sequence[BatchEntry], attempts: Attempts) -> list[BatchValue]:
        body = {
            "in": [e.wire() for e in tail],
            "mime": self.fmt,
            "coer": True,  # missing entries come back as __404__ placeholders we type ourselves
            "onob": False,
            "strm": self.streaming,
        }
        req = Request(
            "GET",
            "/v1/ml/moss",
            about=f"get-batch of {len(tail)} entries from {tail[0].uri}",
            headers={"Content-Type": "application/json"},
            body=json.dumps(body, separators=(",", ":")).encode(),
        )
        resp = await self.client.http.send(req, attempts)
        values: list[BatchValue] = []
        try:
            await self._read(resp, tail, req.about, values)
        except (ShardFormatError, *NETWORK_ERRORS):
            pass  # cut short: keep the whole members that arrived; the caller asks for the rest
        finally:
            resp.release()
        return values

    async def _read(
        self,
        resp: aiohttp.ClientResponse,
        tail: Sequence[BatchEntry],
        about: str,
        values: list[BatchValue],
    ) -> None:
        config, stats = self.client.config, self.client.stats
        reader = ArchiveReader(self.fmt, shard=about, config=config)
        if self.streaming:
            members = reader.stream(resp.content.iter_chunked(config.chunk_size))
        else:
            members = reader.stream(_one(await read_multipart(resp, config.max_member_size)))
        try:
            async for name, data in members:
                if len(values) == len(tail):
                    raise DataError(f"{about}: more members than requested entries")
                value = _value(tail[len(values)], name, data)
                if isinstance(value, bytes):
                    stats.bytes_received += len(value)
                values.append(value)
        finally:
            await members.aclose()

    async def _fallback(self, chunk: Sequence[BatchEntry]) -> list[BatchValue]:
        async def one(entry: BatchEntry) -> BatchValue:
            try:
                return await _get_entry(self.client, entry)
            except ObjectNotFound as exc:
                return exc

        window = self.client.config.window
        return [value async for _, value in ordered_window(chunk, one, window)]


async def _get_entry(client: AsyncClient, entry: BatchEntry) -> bytes:
    """One entry with a plain GET, with get-batch's range rules (a range must fit).

    Raises:
        RangeNotSatisfiable: the range does not fit the object or member.
    """
    if not (entry.start or entry.length):
        return await client.get(entry.ref, archpath=entry.archpath or None)
    stop = None if entry.length < 0 else entry.start + entry.length
    if entry.archpath:  # no Range with archpath: cut the member locally
        member = await client.get(entry.ref, archpath=entry.archpath)
        data = member[entry.start : stop] if entry.start < len(member) else b""
    else:  # HTTP clamps a range that runs past the end; get-batch refuses it
        data = await client.get(entry.ref, byte_range=(entry.start, stop))
    if not data or (stop is not None and len(data) != entry.length):
        raise RangeNotSatisfiable(
            416, "ErrRangeNotSatisfiable", entry.uri, "the range does not fit the object"
        )
    return data


def _no_batch_api(exc: AISError) -> bool:
    """The cluster has no get-batch: 501/405, or a 404 that is no AIS error (unknown route)."""
    return exc.status in (405, 501) or (exc.status == 404 and not exc.tcode)


def _cut_short(tail: Sequence[BatchEntry]) -> IncompleteRead:
    return IncompleteRead(
        f"get-batch stream of {len(tail)} entries ended before its first member "
        f"({tail[0].uri}); retry later or check that entry"
    )


def _value(entry: BatchEntry, name: str, data: bytes) -> BatchValue:
    expected = entry.member_name
    if name == expected:
        return data
    if name == _MISSING + expected and not data:
        return ObjectNotFound(404, "ErrNotFound", entry.uri, "missing in the get-batch answer")
    raise DataError(
        f"get-batch answered member {name!r} where {expected!r} ({entry.uri}) was expected"
    )


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
