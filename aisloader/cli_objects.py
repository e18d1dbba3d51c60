"""The bodies of ``python -m aisloader ls|get|put|mb``: one coroutine each, on an open client.

Parsing, the endpoint and the error messages are :mod:`aisloader.cli`'s. Every coroutine
writes its output as bytes to ``out`` and raises :class:`~aisloader.errors.ConfigError` for a
malformed URL (exit status 2).
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

from aisloader.core.client import AsyncClient
from aisloader.core.stages.window import ordered_window
from aisloader.errors import ConfigError
from aisloader.refs import Bucket, ObjectRef, as_ref, parse_source_url

__all__ = ["get", "ls", "mb", "put"]


def _url(url: str) -> tuple[Bucket, str]:
    try:
        return parse_source_url(url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


async def ls(client: AsyncClient, url: str, out: BinaryIO) -> None:
    """Write ``name<TAB>size`` for every object under ``ais://bucket[/prefix]``."""
    bucket, prefix = _url(url)
    async for entry in client.list_objects(bucket, prefix):
        out.write(f"{entry.name}\t{entry.size}\n".encode())


async def get(client: AsyncClient, url: str, out: BinaryIO) -> None:
    """Write the bytes of ``ais://bucket/object``."""
    try:
        ref = as_ref(url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    async for chunk in client.get_stream(ref):
        out.write(chunk)


async def mb(client: AsyncClient, urls: list[str]) -> None:
    """Create each bucket (``ais://name``); the first failure stops.

    Raises:
        BucketAlreadyExists: one of them exists.
    """
    for url in urls:
        bucket, rest = _url(url)
        if rest.strip("/"):
            raise ConfigError(f"{url!r} names an object; mb takes ais://bucket")
        await client.create_bucket(bucket)


async def put(client: AsyncClient, src: str, url: str, out: BinaryIO) -> None:
    """Upload ``src`` and write ``ais://bucket/name<TAB>size`` per object stored.

    ``src`` is a file (stored as the URL's name, or under the URL's ``prefix/`` with its own
    name), ``-`` for stdin (the URL names the object), or a directory: every file below it,
    recursively, named ``prefix/relative/path``, ``config.window`` uploads at a time.

    Raises:
        ConfigError: stdin without an object name, or a malformed URL.
        OSError: ``src`` cannot be read.
    """
    bucket, rest = _url(url)
    if src == "-":
        if not rest or rest.endswith("/"):
            raise ConfigError(f"put from stdin needs an object name: {bucket.uri}/NAME")
        size = await _put_stream(client, bucket.object(rest), sys.stdin.buffer)
        out.write(f"{bucket.object(rest).uri}\t{size}\n".encode())
        return
    files = _files(Path(src), rest)

    async def one(item: tuple[Path, str]) -> int:
        return await _put_file(client, bucket.object(item[1]), item[0])

    window = client.config.window
    async for (_, name), size in ordered_window(files, one, window, ordered=False):
        out.write(f"{bucket.object(name).uri}\t{size}\n".encode())


def _files(src: Path, rest: str) -> Iterator[tuple[Path, str]]:
    """``(path, object name)`` for each file to upload (lazily: a tree is walked as it goes)."""
    if not src.is_dir():
        yield src, rest if rest and not rest.endswith("/") else rest + src.name
        return
    prefix = rest if not rest or rest.endswith("/") else rest + "/"
    for top, dirs, names in os.walk(src):  # symlinked directories are not followed
        dirs.sort()
        for name in sorted(names):
            path = Path(top, name)
            yield path, prefix + path.relative_to(src).as_posix()


async def _put_file(client: AsyncClient, ref: ObjectRef, path: Path) -> int:
    with path.open("rb") as f:  # opening is cheap; the reads run in threads
        return await _put_stream(client, ref, f)


async def _put_stream(client: AsyncClient, ref: ObjectRef, f: BinaryIO) -> int:
    """PUT what ``f`` holds: a regular file as it is (rewindable), else its chunks as read."""
    if _regular(f):
        start = f.tell()
        await client.put(ref, f)
        return os.fstat(f.fileno()).st_size - start
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        while chunk := await asyncio.to_thread(f.read, client.config.chunk_size):
            sent += len(chunk)
            yield chunk

    await client.put(ref, chunks())
    return sent


def _regular(f: BinaryIO) -> bool:
    """``f`` is a regular file (a pipe, a terminal or an in-memory stream is not)."""
    try:
        return stat.S_ISREG(os.fstat(f.fileno()).st_mode)
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return False
