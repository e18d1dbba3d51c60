"""Reading get-batch answers: the members of a ``.tar``, ``.tgz`` or ``.zip`` archive, streamed
or read whole from a buffered (multipart) answer.

Answers are untrusted bytes: any corruption raises :class:`~aisloader.errors.ShardFormatError`
naming the request and the byte offset when known (a parser's own exception never escapes), and
nothing is sized by what a header declares beyond ``config.max_member_size``:

* ``.tar`` is parsed as it arrives; a member is released as soon as it is whole (tar has no data
  checksum, so nothing more can be known about its bytes).
* ``.tgz`` is parsed as it arrives too, but its members are released only once the gzip trailer's
  CRC has vouched for them (the parser inflates past the tar end marker to check it): a flipped
  bit in deflate data can decode to wrong member bytes that only that CRC catches. The fetcher
  holds a request's members until the answer ends anyway, so this costs no memory.
* ``.zip`` needs its central directory, so it is read whole (bounded by ``max_member_size``);
  each member's declared size is checked against the limit before it is inflated (in 1 MiB
  steps, up to that size), and its CRC after.

``max_members`` (the entries asked for) bounds how many members an answer may bring.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator

import aiohttp

from aisloader.config import ClientConfig
from aisloader.core.tar.members import Compression, iter_tar_members
from aisloader.errors import DataError, ShardFormatError

__all__ = ["ArchiveReader", "read_multipart"]

_PART_CHUNK = 1 << 20
# What zipfile raises on corrupt input besides BadZipFile: truncated reads, bad seeks and
# sizes, undecodable names, deflate errors, unsupported features, bad struct fields.
_ZIP_ERRORS = (
    *(zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, RuntimeError),
    *(struct.error, OverflowError, LookupError),
)
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what AIS writes
_ZIP_STEP = 1 << 20  # most bytes one inflate step may produce
_MULTIPART_ERRORS = (ValueError, RuntimeError, aiohttp.http_exceptions.HttpProcessingError)


class ArchiveReader:
    """Yields ``(member_name, data)`` of a get-batch archive, files only, in archive order.

    Args:
        fmt: ``.tar``, ``.tgz``, ``.tar.gz`` or ``.zip``.
        shard: the request, as named in errors.
        config: ``max_member_size`` bounds a member and a buffered answer.
        max_members: most members the answer may bring (the entries asked for).
    """

    def __init__(
        self, fmt: str, *, shard: str, config: ClientConfig, max_members: int = 1 << 62
    ) -> None:
        self.fmt, self.shard, self.config, self.max_members = fmt, shard, config, max_members

    async def stream(self, chunks: AsyncIterable[bytes]) -> AsyncGenerator[tuple[str, bytes], None]:
        """The answer's files (see the module docs for when each format releases them).

        Raises:
            ShardFormatError: a truncated or corrupt archive.
            DataError: a zip answer larger than ``config.max_member_size``, or more members
                than ``max_members``.
        """
        if self.fmt == ".zip":
            data = await _read_all(chunks, self.config.max_member_size, self.shard)
            files = _zip_members(data, self.shard, self.config.max_member_size)
        elif self.fmt in (".tgz", ".tar.gz"):  # held until the gzip trailer checked out
            files = iter([item async for item in self._tar_files(chunks, "gzip")])
        else:
            async for item in self._tar_files(chunks, "none"):
                yield item
            return
        for count, item in enumerate(files, 1):
            self._count(count)
            yield item

    async def _tar_files(
        self, chunks: AsyncIterable[bytes], compression: Compression
    ) -> AsyncGenerator[tuple[str, bytes], None]:
        limit = self.config.max_member_size
        members = iter_tar_members(
            chunks, shard=self.shard, compression=compression, max_member_size=limit
        )
        count = 0
        try:
            async for member in members:
                if member.is_file:
                    count += 1
                    self._count(count)
                    yield member.name, member.data
        finally:
            await members.aclose()

    def _count(self, count: int) -> None:
        if count > self.max_members:
            raise DataError(
                f"{self.shard}: more members than requested entries ({self.max_members}); "
                "the cluster's answer does not match the request"
            )


def _zip_members(data: bytes, shard: str, limit: int) -> Iterator[tuple[str, bytes]]:
    """The files of a whole zip answer, one at a time, each bounded and CRC-checked."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise ShardFormatError(shard, -1, f"bad zip ({len(data)} bytes): {exc}") from exc
    with archive:
        for info in archive.infolist():
            if not info.is_dir():
                yield info.filename, _zip_read(archive, info, shard, limit)


def _zip_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shard: str, limit: int) -> bytes:
    at, name = info.header_offset, info.filename
    if info.compress_type not in _ZIP_METHODS or info.flag_bits & 0x1:
        how = f"encrypted or compression method {info.compress_type}, not stored/deflate"
        raise ShardFormatError(shard, at, f"zip member {name!r}: {how}")
    if not 0 <= info.file_size <= limit:
        what = f"declares {info.file_size} bytes, above max_member_size={limit}"
        raise ShardFormatError(shard, at, f"zip member {name!r} {what}")
    try:  # in steps: zipfile's read() inflates all the compressed bytes at once
        with archive.open(info) as member:
            return b"".join(iter(lambda: member.read(_ZIP_STEP), b""))
    except _ZIP_ERRORS as exc:
        raise ShardFormatError(shard, at, f"bad zip member {name!r}: {exc}") from exc


async def read_multipart(resp: aiohttp.ClientResponse, limit: int, about: str) -> bytes:
    """The ``archive`` part of a buffered (``strm: false``) get-batch answer to ``about``.

    Raises:
        ShardFormatError: the multipart envelope is corrupt, or not the one AIS sends.
        DataError: the archive is larger than ``limit`` bytes.
    """
    try:
        return await _archive_part(resp, limit, about)
    except _MULTIPART_ERRORS as exc:
        raise ShardFormatError(about, -1, f"bad multipart envelope: {exc}") from exc


async def _archive_part(resp: aiohttp.ClientResponse, limit: int, about: str) -> bytes:
    reader = aiohttp.MultipartReader.from_response(resp)
    archive: bytes | None = None
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, aiohttp.BodyPartReader):
            raise ShardFormatError(about, -1, "a nested multipart in the answer")
        if part.name == "archive":
            archive = await _read_all(_part_chunks(part), limit, about)
        else:
            await part.release()
    if archive is None:
        raise ShardFormatError(about, -1, "the multipart answer has no 'archive' part")
    return archive


async def _part_chunks(part: aiohttp.BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(_PART_CHUNK):
        yield chunk


async def _read_all(chunks: AsyncIterable[bytes], limit: int, what: str) -> bytes:
    parts: list[bytes] = []
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise DataError(
                f"{what}: a buffered get-batch archive over {limit} bytes (max_member_size); "
                "use the .tar format with streaming, or smaller batches"
            )
        parts.append(chunk)
    return b"".join(parts)
