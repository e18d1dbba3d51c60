"""Get-batch: many objects, members or ranges in one ordered archive stream.

:class:`BatchFetcher` depends only on the HTTP layer, the config and a "get one" callable (the
client's ``get``); :class:`~aisloader.core.client.AsyncClient` builds one and delegates its
``get_batch`` to it. It owns the "batch API available" state of its cluster.

``get_batch`` splits the entries into requests of ``batch_size``, keeps
``config.batches_in_flight`` requests on the wire, and yields ``(entry, data)`` in request
order. Each response is parsed as it arrives and checked member by member against the request:
a member must carry the entry's name (``bucket/object[/archpath]``); a ``__404__/…`` placeholder
becomes an :class:`~aisloader.errors.ObjectNotFound` value for that entry
(``continue_on_error=True``) or is raised — never empty bytes, since a real object can be empty.

A stream that ends early (the cluster commits 200 and then truncates: a fault, a peer failure,
or more than ``max_soft_errs`` missing entries) or turns out corrupt (a ``ShardFormatError``
from :mod:`.archive`) is detected by counting members, and the rest is requested again. An
answer that brought nothing (a cut zip, a cut buffered answer) costs one retry attempt with
backoff (the last raises an ``IncompleteRead`` chained to why) and narrows the next requests of
that chunk to :data:`SOFT_ERROR_LIMIT` entries, which the soft-error limit cannot refuse; a
buffered answer refused with 400 (that limit) is narrowed the same way. Two empty answers in a
row make the entry at their head fetched alone with a plain GET, so a bad entry (an
out-of-bounds range, say) raises its own typed error instead of a vague one, and every round
makes progress. A cluster without get-batch (501, 405, or a 404 without an AIS error code on
``/v1/ml/moss``) is remembered and served by concurrent per-object GETs instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Sequence
from typing import Protocol

import aiohttp

from aisloader.config import ClientConfig
from aisloader.core.batch.archive import ArchiveReader, read_multipart
from aisloader.core.batch.entry import FORMATS, BatchEntry, BatchValue, OutputFormat, entry_value
from aisloader.core.http.reader import ByteRange
from aisloader.core.http.retry import Attempts
from aisloader.core.http.session import NETWORK_ERRORS, Http, Request
from aisloader.core.stages.window import ordered_window
from aisloader.errors import (
    AISError,
    ConfigError,
    IncompleteRead,
    ObjectNotFound,
    RangeNotSatisfiable,
    ShardFormatError,
)
from aisloader.etl import Etl
from aisloader.refs import RefLike

__all__ = ["SOFT_ERROR_LIMIT", "BatchFetcher", "Entries", "GetOne"]

SOFT_ERROR_LIMIT = 8
"""AIS ``get_batch.max_soft_errs`` default: a request this wide never hits the limit."""

Entries = Iterable[BatchEntry | RefLike] | AsyncIterable[BatchEntry | RefLike]


class GetOne(Protocol):
    """A plain GET (the client's ``get``): the fallback for one entry."""

    async def __call__(
        self,
        ref: RefLike,
        *,
        byte_range: ByteRange | None = ...,
        archpath: str | None = ...,
        etl: Etl | None = ...,
    ) -> bytes: ...


class BatchFetcher:
    """Get-batch for one cluster; remembers whether the cluster has the API (module docs)."""

    def __init__(self, http: Http, config: ClientConfig, get_one: GetOne) -> None:
        self._http, self._config, self._get_one = http, config, get_one
        self.available = True
        """False once the cluster answered that get-batch is not available."""

    async def get_batch(
        self,
        entries: Entries,
        *,
        batch_size: int | None = None,
        output_format: OutputFormat = ".tar",
        streaming: bool = True,
        continue_on_error: bool = True,
        etl: Etl | None = None,
        colocation: int = 0,
    ) -> AsyncGenerator[tuple[BatchEntry, BatchValue], None]:
        """``(entry, value)`` of every entry, in request order (through ``etl``: with GETs,
        since AIS get-batch applies no ETL).

        Raises:
            ObjectNotFound: a missing entry with ``continue_on_error=False``.
            ConfigError: an unknown output format, batch size < 1, or a malformed entry.
            IncompleteRead: the stream kept ending early after the retry budget.
            DataError: the cluster answered members that do not match the request.
        """
        if colocation not in (0, 1, 2):
            raise ConfigError(f"colocation must be 0, 1 or 2 (AIS ColocLevel), got {colocation}")
        if output_format not in FORMATS:
            raise ConfigError(f"unknown get-batch output_format {output_format!r}: .tar/.tgz/.zip")
        size = batch_size or self._config.batch_size
        if size < 1:
            raise ConfigError(f"get-batch batch_size must be >= 1, got {size}")
        chunk = _Chunk(self, output_format, streaming, etl, colocation)
        source = _chunks(entries, size)
        cfg = self._config
        chunks = ordered_window(  # read ahead past a batch in retry, as get_many does
            source,
            chunk.fetch,
            cfg.batches_in_flight,
            ahead=max(cfg.batches_in_flight, cfg.read_ahead // size),
            ahead_bytes=cfg.read_ahead_bytes,
        )
        try:
            async for part, values in chunks:
                for entry, value in zip(part, values, strict=True):
                    if isinstance(value, ObjectNotFound) and not continue_on_error:
                        raise value
                    yield entry, value
        finally:
            await chunks.aclose()
            await source.aclose()

    async def get_entry(self, entry: BatchEntry, etl: Etl | None = None) -> bytes:
        """One entry with a plain GET (through ``etl``), with get-batch's range rules (a range
        must fit).

        Raises:
            RangeNotSatisfiable: the range does not fit the object or member.
            ObjectNotFound, ETLNotFound, AISError, TransportError: as for a GET.
        """
        get = self._get_one
        if not (entry.start or entry.length):
            return await get(entry.ref, archpath=entry.archpath or None, etl=etl)
        stop = None if entry.length < 0 else entry.start + entry.length
        if entry.archpath or etl is not None:  # no Range with archpath/ETL: cut locally
            member = await get(entry.ref, archpath=entry.archpath or None, etl=etl)
            data = member[entry.start : stop] if entry.start < len(member) else b""
        else:  # HTTP clamps a range that runs past the end; get-batch refuses it
            data = await get(entry.ref, byte_range=(entry.start, stop))
        if not data or (stop is not None and len(data) != entry.length):
            raise RangeNotSatisfiable(
                416, "ErrRangeNotSatisfiable", entry.uri, "the range does not fit the object"
            )
        return data

    async def fallback(
        self, entries: Sequence[BatchEntry], etl: Etl | None = None
    ) -> list[BatchValue]:
        """The entries with concurrent plain GETs; a missing one becomes its error value."""

        async def one(entry: BatchEntry) -> BatchValue:
            try:
                return await self.get_entry(entry, etl)
            except ObjectNotFound as exc:
                return exc

        window = self._config.window
        return [value async for _, value in ordered_window(entries, one, window)]


async def _chunks(entries: Entries, size: int) -> AsyncGenerator[list[BatchEntry], None]:
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


class _Chunk:
    """Fetches one chunk: get-batch with tail re-requests, or the per-object fallback."""

    def __init__(
        self,
        owner: BatchFetcher,
        output_format: str,
        streaming: bool,
        etl: Etl | None,
        colocation: int,
    ) -> None:
        self.owner, self.fmt, self.streaming, self.etl = owner, output_format, streaming, etl
        self.coloc = colocation
        self.http, self.config = owner._http, owner._config

    async def fetch(self, chunk: list[BatchEntry]) -> list[BatchValue]:
        if not self.owner.available or self.etl is not None:
            return await self.owner.fallback(chunk, self.etl)
        values: list[BatchValue] = []
        attempts = self.http.attempts()
        width, stalled = len(chunk), 0
        while len(values) < len(chunk):
            tail = chunk[len(values) : len(values) + width]
            if stalled >= 2:  # the same entry stopped two answers: get it alone (or its error)
                values.extend(await self.owner.fallback(tail[:1]))
                stalled = 0
                continue
            try:
                got, cut = await self._request(tail, attempts)
            except AISError as exc:
                if _no_batch_api(exc):
                    self.owner.available = False
                    return values + await self.owner.fallback(chunk[len(values) :])
                if exc.status == 400 and width > SOFT_ERROR_LIMIT:  # buffered, past the limit
                    width = SOFT_ERROR_LIMIT
                    continue
                raise
            values.extend(got)
            if not got:
                stalled += 1
                width = min(width, SOFT_ERROR_LIMIT)
                await attempts.again(_cut_short(tail, cut))
            else:
                stalled = 0
        return values

    async def _request(
        self, tail: Sequence[BatchEntry], attempts: Attempts
    ) -> tuple[list[BatchValue], BaseException | None]:
        """The values of the members released, and why the answer ended early (if it did)."""
        body = {
            "in": [e.wire() for e in tail],
            "mime": self.fmt,
            "coer": True,  # missing entries come back as __404__ placeholders we type ourselves
            "onob": False,
            "strm": self.streaming,
        }
        if self.coloc:  # a hint for the proxy's choice of the assembling target
            body["coloc"] = self.coloc
        req = Request(
            "GET",
            "/v1/ml/moss",
            params={"coloc": str(self.coloc)} if self.coloc else {},
            about=f"get-batch of {len(tail)} entries from {tail[0].uri}",
            headers={"Content-Type": "application/json"},
            body=json.dumps(body, separators=(",", ":")).encode(),
        )
        resp = await self.http.send(req, attempts)
        values: list[BatchValue] = []
        try:
            await self._read(resp, tail, req.about, values)
        except (ShardFormatError, *NETWORK_ERRORS) as exc:
            # cut short or corrupt: keep the whole members released; the caller asks for the rest
            return values, exc
        finally:
            resp.release()
        return values, None

    async def _read(
        self,
        resp: aiohttp.ClientResponse,
        tail: Sequence[BatchEntry],
        about: str,
        values: list[BatchValue],
    ) -> None:
        config, stats = self.config, self.http.stats
        reader = ArchiveReader(self.fmt, shard=about, config=config, max_members=len(tail))
        if self.streaming:
            members = reader.stream(resp.content.iter_chunked(config.chunk_size))
        else:
            members = reader.stream(_one(await read_multipart(resp, config.max_member_size, about)))
        try:
            async for name, data in members:  # the reader refuses more than len(tail)
                value = entry_value(tail[len(values)], name, data)
                if isinstance(value, bytes):
                    stats.bytes_received += len(value)
                    stats.objects += 1
                values.append(value)
        finally:
            await members.aclose()


def _no_batch_api(exc: AISError) -> bool:
    """The cluster has no get-batch: 501/405, or a 404 that is no AIS error (unknown route)."""
    return exc.status in (405, 501) or (exc.status == 404 and not exc.tcode)


def _cut_short(tail: Sequence[BatchEntry], cause: BaseException | None) -> IncompleteRead:
    """The error of an answer that brought no member, chained to why (a cut, a corrupt archive)."""
    why = ""
    if isinstance(cause, ShardFormatError):
        at = f" at byte {cause.offset}" if cause.offset >= 0 else ""
        why = f": the answer was corrupt{at} ({cause.reason})"
    err = IncompleteRead(
        f"get-batch stream of {len(tail)} entries ended before its first member "
        f"({tail[0].uri}){why}; retry later or check that entry"
    )
    err.__cause__ = cause
    return err


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
