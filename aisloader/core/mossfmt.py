"""Reading get-batch response archives: tar/tgz streamed as they arrive, zip, multipart."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterable, AsyncIterator

import aiohttp

from aisloader.config import ClientConfig
from aisloader.core.tar import iter_tar_members
from aisloader.errors import DataError, ShardFormatError

__all__ = ["ArchiveReader", "read_multipart"]


class ArchiveReader:
    """Yields ``(member_name, data)`` of a get-batch archive, files only, in archive order."""

    def __init__(self, fmt: str, *, shard: str, config: ClientConfig) -> None:
        self.fmt, self.shard, self.config = fmt, shard, config

    async def stream(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[str, bytes]]:
        """Members as they arrive (tar/tgz); zip needs its central directory, so it is read
        whole first (bounded by the request's size).

        Raises:
            ShardFormatError: a truncated or corrupt archive.
        """
        if self.fmt == ".zip":
            data = b"".join([chunk async for chunk in chunks])
            for item in _zip_members(data, self.shard):
                yield item
            return
        members = iter_tar_members(
            chunks, shard=self.shard, max_member_size=self.config.max_member_size
        )
        async for member in members:
            if member.is_file:
                yield member.name, member.data


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


async def read_multipart(resp: aiohttp.ClientResponse) -> bytes:
    """The ``archive`` part of a buffered (``strm: false``) get-batch answer.

    Raises:
        DataError: the answer is not the two-part multipart AIS sends.
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
            archive = bytes(await part.read(decode=False))
        else:
            await part.release()
    if archive is None:
        raise DataError("get-batch: the multipart answer has no 'archive' part")
    return archive
