"""Get-batch (MOSS): many objects, members or ranges in one ordered archive stream.

``get_batch`` splits the entries into requests of ``batch_size``, keeps
``config.batches_in_flight`` requests on the wire, and yields ``(entry, data)`` in request
order. Each response is checked member by member against the request: a member must carry the
entry's name (``bucket/object[/archpath]``); a ``__404__/…`` placeholder becomes an
:class:`~aisloader.errors.ObjectNotFound` value for that entry (``continue_on_error=True``) or is
raised — never empty bytes, since a real object can be empty. A stream that ends early (the
cluster commits 200 and then truncates) is detected, and the missing tail is requested again
within the retry budget. A cluster without get-batch (501/404/405 on ``/v1/ml/moss``) is
remembered and served by concurrent per-object GETs instead.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from aisloader.core.fetch import ordered_window
from aisloader.core.http import NETWORK_ERRORS, Request
from aisloader.core.mossfmt import ArchiveReader, read_multipart
from aisloader.errors import (
    AISError,
    ConfigError,
    DataError,
    IncompleteRead,
    ObjectNotFound,
    ShardFormatError,
)
from aisloader.refs import ObjectRef, RefLike, as_ref

if TYPE_CHECKING:
    from aisloader.core.client import AsyncClient

__all__ = ["BatchEntry", "BatchValue", "get_batch"]

OutputFormat = Literal[".tar", ".tgz", ".tar.gz", ".zip"]
_NO_BATCH_API = frozenset({404, 405, 501})
_MISSING = "__404__/"


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One item of a get-batch request.

    Attributes:
        ref: the object (or the shard holding ``archpath``).
        archpath: a member of the archive object to return instead of the object.
        start: first byte of a range (with ``length``).
        length: bytes of the range; 0 with start 0 = whole; -1 = from ``start`` to the end.
    """

    ref: ObjectRef
    archpath: str = ""
    start: int = 0
    length: int = 0

    @classmethod
    def of(cls, item: BatchEntry | RefLike) -> BatchEntry:
        """Accept an entry, an ``ais://`` URL, an :class:`ObjectRef` or a (bucket, name) pair."""
        return item if isinstance(item, BatchEntry) else cls(as_ref(item))

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

    def wire(self, index: int) -> dict[str, object]:
        """The MossIn JSON of this entry (``opaque`` carries the request index)."""
        out: dict[str, object] = {
            "objname": self.ref.name,
            "bucket": self.ref.bucket.name,
            "provider": self.ref.bucket.provider,
            "opaque": base64.b64encode(str(index).encode()).decode(),
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
) -> AsyncIterator[tuple[BatchEntry, BatchValue]]:
    """See the module docs; ``client.get_batch`` is the public entry point.

    Raises:
        ObjectNotFound: a missing entry with ``continue_on_error=False``.
        ConfigError: an unknown output format or batch size < 1.
        IncompleteRead: the stream kept ending early after the retry budget.
    """
    if output_format not in (".tar", ".tgz", ".tar.gz", ".zip"):
        raise ConfigError(f"unknown get-batch output_format {output_format!r}: .tar/.tgz/.zip")
    size = batch_size or client.config.batch_size
    if size < 1:
        raise ConfigError(f"get-batch batch_size must be >= 1, got {size}")
    fetcher = _Fetcher(client, output_format, streaming, continue_on_error)
    chunks = ordered_window(_chunks(entries, size), fetcher.fetch, client.config.batches_in_flight)
    try:
        async for chunk, values in chunks:
            for entry, value in zip(chunk, values, strict=True):
                if isinstance(value, ObjectNotFound) and not continue_on_error:
                    raise value
                yield entry, value
    finally:
        await chunks.aclose()


async def _chunks(
    entries: Iterable[BatchEntry | RefLike] | AsyncIterable[BatchEntry | RefLike], size: int
) -> AsyncIterator[list[BatchEntry]]:
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

    def __init__(
        self, client: AsyncClient, output_format: str, streaming: bool, continue_on_error: bool
    ) -> None:
        self.client, self.fmt, self.streaming = client, output_format, streaming
        self.coer = continue_on_error

    async def fetch(self, chunk: list[BatchEntry]) -> list[BatchValue]:
        if not self.client.batch_api_available:
            return await self._fallback(chunk)
        values: list[BatchValue] = []
        attempts = self.client.http.attempts()
        while len(values) < len(chunk):
            tail = chunk[len(values) :]
            try:
                got = await self._request(tail, attempts)
            except AISError as exc:
                if exc.status in _NO_BATCH_API and not values:
                    self.client.batch_api_available = False
                    return await self._fallback(chunk)
                raise
            values.extend(got)
            if len(values) < len(chunk):  # stream ended early: ask again for the rest
                err = IncompleteRead(
                    f"get-batch stream ended after {len(got)} of {len(tail)} entries "
                    f"(next: {tail[len(got)].uri})"
                )
                await attempts.again(err)
        return values

    async def _request(self, tail: Sequence[BatchEntry], attempts: object) -> list[BatchValue]:
        body = {
            "in": [e.wire(i) for i, e in enumerate(tail)],
            "mime": self.fmt,
            "coer": True,  # missing entries come back as __404__ placeholders we type ourselves
            "onob": False,
            "strm": self.streaming,
        }
        req = Request(
            "GET",
            "/v1/ml/moss",
            about=f"get-batch of {len(tail)} entries from {tail[0].ref.bucket.uri}",
            headers={"Content-Type": "application/json"},
            body=json.dumps(body).encode(),
        )
        resp = await self.client.http.send(req, attempts)  # type: ignore[arg-type]
        values: list[BatchValue] = []
        try:
            reader = ArchiveReader(self.fmt, shard=req.about, config=self.client.config)
            if self.streaming:
                members = reader.stream(resp.content.iter_chunked(self.client.config.chunk_size))
            else:
                archive = await read_multipart(resp)
                members = reader.stream(_one(archive))
            async for name, data in members:
                if len(values) == len(tail):
                    raise DataError(f"{req.about}: more members than requested entries")
                values.append(_value(tail[len(values)], name, data))
        except (ShardFormatError, *NETWORK_ERRORS):
            pass  # truncated: keep what arrived, the caller re-requests the tail
        finally:
            resp.release()
        return values

    async def _fallback(self, chunk: list[BatchEntry]) -> list[BatchValue]:
        async def one(entry: BatchEntry) -> BatchValue:
            byte_range = None
            if entry.start or entry.length:
                end = None if entry.length < 0 else entry.start + entry.length - 1
                byte_range = (entry.start, end)
            try:
                data: bytes = await self.client.get(
                    entry.ref, byte_range=byte_range, archpath=entry.archpath or None
                )
                return data
            except ObjectNotFound as exc:
                return exc

        window = self.client.config.window
        return [value async for _, value in ordered_window(chunk, one, window)]


def _value(entry: BatchEntry, name: str, data: bytes) -> BatchValue:
    expected = entry.member_name
    if name == expected:
        return data
    if name == _MISSING + expected and not data:
        return ObjectNotFound(404, "ErrNotFound", entry.uri, "missing in get-batch response")
    raise DataError(
        f"get-batch answered member {name!r} where {expected!r} ({entry.uri}) was expected"
    )


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
