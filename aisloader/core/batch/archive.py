"""Reading get-batch response archives: tar/tgz streamed as they arrive; zip and the buffered
(multipart) answer read whole first, bounded by ``config.max_member_size``."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator

import aiohttp

from aisloader.config import ClientConfig
from aisloader.core.tar.members import iter_tar_members
from aisloader.errors import DataError, ShardFormatError

__all__ = ["ArchiveReader", "read_multipart"]

_PART_CHUNK = 1 << 20


class ArchiveReader:
    """Yields ``(member_name, data)`` of a get-batch archive, files only, in archive order."""

    def __init__(self, fmt: str, *, shard: str, config: ClientConfig) -> None:
        self.fmt, self.shard, self.config = fmt, shard, config

    async def stream(self, chunks: AsyncIterable[bytes]) -> AsyncGenerator[tuple[str, bytes], None]:
        """Members as they arrive (tar/tgz); zip needs its central directory, so it is read
        whole first (bounded by ``config.max_member_size``).

        Raises:
            ShardFormatError: a truncated or corrupt archive.
            DataError: a zip answer larger than ``config.max_member_size``.
        """
        if self.fmt == ".zip":
            data = await _read_all(chunks, self.config.max_member_size, self.shard)
            for item in _zip_members(data, self.shard):
                yield item
            return
        members = iter_tar_members(
            chunks, shard=self.shard, max_member_size=self.config.max_member_size
        )
        try:
            async for member in members:
                if member.is_file:
                    yield member.name, member.data
        finally:
            await members.aclose()


def _zip_members(data: bytes, shard: str) -> list[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [
                (info.filename, archive.read(info))
                for info in archive.infolist()
                if not info.is_dir()
            ]
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ShardFormatError(shard, len(data), f"bad zip: {exc}") from exc


async def read_multipart(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The ``archive`` part of a buffered (``strm: false``) get-batch answer.

    Raises:
        DataError: the answer is not the two-part multipart AIS sends, or its archive is
            larger than ``limit`` bytes.
    """
    reader = aiohttp.MultipartReader.from_response(resp)
    archive: bytes | None = None
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, aiohttp.BodyPartReader):
            raise DataError("get-batch: nested multipart in the answer")
        if part.name == "archive":
            archive = await _read_all(_part_chunks(part), limit, "get-batch answer")
        else:
            await part.release()
    if archive is None:
        raise DataError("get-batch: the multipart answer has no 'archive' part")
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
