"""Tar members of a stream of chunks, sync or async, through :class:`TarStreamParser`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Iterator

from aisloader.core.tar.header import Compression, MemberType, TarMember
from aisloader.core.tar.parser import TarStreamParser

__all__ = [
    "Compression",
    "MemberType",
    "TarMember",
    "TarStreamParser",
    "iter_tar_members",
    "iter_tar_members_sync",
]


async def iter_tar_members(
    chunks: AsyncIterable[bytes],
    *,
    shard: str,
    compression: Compression = "auto",
    max_member_size: int,
    require_end_marker: bool = True,
) -> AsyncGenerator[TarMember, None]:
    """Members of a tar stream, parsed as its chunks arrive; closes ``chunks`` when done.

    Raises:
        ShardFormatError: corrupt or truncated archive.
        ConfigError: on bad arguments.
    """
    parser = TarStreamParser(
        shard=shard,
        compression=compression,
        max_member_size=max_member_size,
        require_end_marker=require_end_marker,
    )
    try:
        async for chunk in chunks:
            for member in parser.feed_iter(chunk):
                yield member
        for member in parser.close():
            yield member
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


def iter_tar_members_sync(
    chunks: Iterable[bytes],
    *,
    shard: str,
    compression: Compression = "auto",
    max_member_size: int,
    require_end_marker: bool = True,
) -> Iterator[TarMember]:
    """Synchronous :func:`iter_tar_members` over an iterable of chunks.

    Raises:
        ShardFormatError: corrupt or truncated archive.
        ConfigError: on bad arguments.
    """
    parser = TarStreamParser(
        shard=shard,
        compression=compression,
        max_member_size=max_member_size,
        require_end_marker=require_end_marker,
    )
    for chunk in chunks:
        yield from parser.feed_iter(chunk)
    yield from parser.close()
