"""Assemble a get-batch archive on the designated target: entries in request order.

Each entry is opened (object, archive member, byte range), copied chunk by chunk through an
`ArchiveWriter` to an ``emit`` callback, and described by one ``out`` item (AIS ``apc.MossOut``).
Missing items become zero-length ``__404__/...`` members when ``coer`` is set, up to
`MAX_SOFT_ERRS`.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisloader.server.archive import ArchiveIndex, Reader, archive_kind, member_name
from aisloader.server.batch.opener import FALLBACK, FdReader, Opener
from aisloader.server.batch.request import BatchEntry, BatchReq, entry_name, resolve_range
from aisloader.server.batch.writers import ArchiveWriter
from aisloader.server.errors import EmuError
from aisloader.server.store import Store

__all__ = ["MAX_SOFT_ERRS", "Assembly", "assemble"]

MAX_SOFT_ERRS = 8  # get_batch.max_soft_errs default
CHUNK = 1 << 20
INLINE = 256 * 1024  # reads and archive work up to this size run on the loop, larger in a thread

Emit = Callable[[bytes], Awaitable[None]]
Pace = Callable[[int], Awaitable[None]]
Flush = Callable[[], Awaitable[None]]


async def _no_flush() -> None:
    return None


class _Missing(Exception):
    """An entry that does not exist (bucket, object or member): soft with ``coer``."""

    def __init__(self, err: EmuError) -> None:
        super().__init__(err.message)
        self.err = err


@dataclass
class _Source:
    reader: Reader
    size: int


@dataclass
class Assembly:
    """What one batch needs: storage, the request, the writer and where bytes go.

    ``pace(i)`` is awaited before entry ``i`` and (with ``i == len(entries)``) before the
    archive is finished; the streaming handler uses it for slow and truncate faults. ``emit``
    may hold bytes back (to coalesce small writes); ``flush`` is awaited before any work that
    runs in a thread and could stall, so held bytes are not kept waiting behind it.
    ``outs`` (the ``out`` list of the buffered answer, AIS ``MossOut``) is filled only with
    ``keep_outs``.
    """

    store: Store
    archives: ArchiveIndex
    label: str
    req: BatchReq
    writer: ArchiveWriter
    emit: Emit
    pace: Pace
    flush: Flush = _no_flush
    keep_outs: bool = True
    outs: list[dict[str, Any]] = field(default_factory=list)
    opener: Opener = field(default_factory=Opener)


def _not_found(label: str, what: str) -> _Missing:
    return _Missing(EmuError(404, f"{label}: {what} does not exist", "ErrNotFound"))


async def _open(a: Assembly, e: BatchEntry) -> _Source:
    store, b = a.store, e.bucket
    try:
        bdir = store.bucket_dir(b)
    except EmuError as err:
        raise _Missing(err) from None
    if e.archpath:
        path = store.object_path(b, e.objname)
        await a.flush()
        return await _open_member(a, path, e, f"{b.display}/{e.objname}")
    fd, size = a.opener.open(str(bdir), e.objname)  # e.objname passed the name rules
    if fd == FALLBACK:  # a symlink on the way: the store's realpath check decides
        fd, size = _open_checked(store.object_path(b, e.objname))
    if fd < 0:
        raise _not_found(a.label, f"{b.display}/{e.objname}")
    if not e.length:  # the whole object (the common case)
        return _Source(FdReader(fd, 0), size)
    try:
        offset, count = resolve_range(e, size, f"{b.display}/{e.objname}")
    except BaseException:
        os.close(fd)
        raise
    return _Source(FdReader(fd, offset), count)


def _open_checked(path: Path) -> tuple[int, int]:
    """``(fd, size)`` of a path the store validated, ``(-1, 0)`` if it is no regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return -1, 0
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return -1, 0
    return fd, st.st_size


async def _open_member(a: Assembly, path: Path, e: BatchEntry, what: str) -> _Source:
    kind = archive_kind(e.objname)
    try:
        members = await asyncio.to_thread(a.archives.members, path, kind)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise _not_found(a.label, what) from None
    name = member_name(e.objname, e.archpath)
    member = members.get(name)
    if member is None:
        raise _not_found(a.label, f"{what}/{name}")
    offset, count = resolve_range(e, member.size, f"{what}/{name}")
    if kind == "tar":  # plain tar: read the member's bytes straight from the file
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        return _Source(FdReader(fd, member.offset + offset), count)
    reader = await asyncio.to_thread(a.archives.open_member, path, kind, member)
    try:
        await asyncio.to_thread(_skip, reader, offset)
    except BaseException:
        reader.close()
        raise
    return _Source(reader, count)


def _skip(reader: Reader, n: int) -> None:
    while n > 0 and (chunk := reader.read(min(n, CHUNK))):
        n -= len(chunk)


def _read_exact(reader: Reader, n: int) -> bytes:
    parts, left = [], n
    while left > 0 and (chunk := reader.read(left)):
        parts.append(chunk)
        left -= len(chunk)
    if left:
        raise EmuError(500, f"content changed while reading: {n - left} of {n} bytes")
    return b"".join(parts)


async def _copy(a: Assembly, src: _Source) -> None:
    left = src.size
    while left > 0:
        n = min(left, CHUNK)
        if n <= INLINE:
            out = a.writer.data(_read_exact(src.reader, n))
        else:
            await a.flush()
            chunk = await asyncio.to_thread(_read_exact, src.reader, n)
            out = await asyncio.to_thread(a.writer.data, chunk)
        await a.emit(out)
        left -= n


def _out(e: BatchEntry, size: int, err_msg: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"objname": e.objname}
    if e.archpath:
        out["archpath"] = e.archpath
    out |= {"bucket": e.bucket.name, "provider": e.bucket.provider}
    if e.opaque:
        out["opaque"] = e.opaque
    if err_msg:
        out["err_msg"] = err_msg
    out["size"] = size
    return out


async def _entry(a: Assembly, e: BatchEntry, soft: int) -> int:
    """Write one entry; return the updated soft-error count."""
    try:
        src = await _open(a, e)
    except _Missing as m:
        if not a.req.coer:
            raise m.err from None
        soft += 1
        if soft > MAX_SOFT_ERRS:
            raise EmuError(
                400, f"{a.label}: get-batch aborted: {soft} missing items (limit {MAX_SOFT_ERRS})"
            ) from None
        await a.emit(a.writer.begin(entry_name(e, a.req.onob, missing=True), 0) + a.writer.end())
        if a.keep_outs:
            a.outs.append(_out(e, 0, m.err.message))
        return soft
    try:
        await a.emit(a.writer.begin(entry_name(e, a.req.onob), src.size))
        await _copy(a, src)
        await a.emit(a.writer.end())
    finally:
        src.reader.close()
    if a.keep_outs:
        a.outs.append(_out(e, src.size))
    return soft


async def assemble(a: Assembly) -> None:
    """Write every entry of ``a.req`` in order, then finish the archive.

    Raises:
        EmuError: 404 for a missing item without ``coer``, 400 past the soft-error limit or
            for an unreadable archive, 416 for an out-of-bounds range.
    """
    soft = 0
    try:
        for i, e in enumerate(a.req.entries):
            await a.pace(i)
            soft = await _entry(a, e, soft)
    finally:
        a.opener.close()
    await a.pace(len(a.req.entries))
    await a.emit(a.writer.finish())
