"""Large objects read as concurrent range GETs on the loop: no thread or process pool.

The object is cut into at most ``workers`` ranges of at least ``min_part`` bytes; each range is
read by its own :class:`~aisloader.core.http.reader.ObjectReader` (retried and resumed on its
own). :func:`read_ranges` writes each chunk straight into its place in the caller's
preallocated buffer (which can be the result itself: no copy afterwards);
:func:`read_ranges_bytes` joins the chunks once at the end into the ``bytes`` result (one
object-sized allocation, where a buffer then ``bytes(buffer)`` would make two; fresh memory is
what large reads spend most on). Either way the object is held once in chunks or buffer, plus
the result.

Every range must come from the same object version and report the object's total size as the
expected size (a size from an older listing would otherwise give a silently cut object);
otherwise the read fails rather than return a mix of two versions. When one range fails, the
others are cancelled and awaited before the error is raised: no range outlives the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from aisloader.core.http.reader import ObjectReader
from aisloader.core.http.session import Http
from aisloader.errors import ConfigError, DataError, IncompleteRead
from aisloader.refs import ObjectRef

__all__ = ["read_ranges", "read_ranges_bytes"]

Put = Callable[[int, bytes], None]
"""Takes one chunk and the object offset of its first byte."""


async def read_ranges(
    http: Http, ref: ObjectRef, buffer: bytearray | memoryview, *, workers: int, min_part: int
) -> None:
    """Fill ``buffer`` with the first ``len(buffer)`` bytes of ``ref`` (its whole size), read as
    concurrent ranges.

    Raises:
        ConfigError: ``workers`` or ``min_part`` < 1.
        DataError: the object changed (another version) while its ranges were read, or its
            size is not ``len(buffer)``.
        IncompleteRead: a range came back shorter than asked.
        ObjectNotFound, AISError, TransportError: as for a GET.
    """
    view = memoryview(buffer).cast("B")

    def put(pos: int, chunk: bytes) -> None:
        view[pos : pos + len(chunk)] = chunk

    await _each_range(http, ref, len(view), workers, min_part, put)


async def read_ranges_bytes(
    http: Http, ref: ObjectRef, size: int, *, workers: int, min_part: int
) -> bytes:
    """The ``size`` bytes of ``ref`` (its whole size), read as concurrent ranges and joined.

    Raises:
        Same as :func:`read_ranges`.
    """
    chunks: dict[int, bytes] = {}
    await _each_range(http, ref, size, workers, min_part, chunks.__setitem__)
    return b"".join([chunks[pos] for pos in sorted(chunks)])


async def _each_range(
    http: Http, ref: ObjectRef, size: int, workers: int, min_part: int, put: Put
) -> None:
    if workers < 1 or min_part < 1:
        raise ConfigError(f"workers and min_part must be >= 1, got {workers}, {min_part}")
    if not size:
        return
    step = -(-size // max(1, min(workers, size // min_part)))
    tasks = [
        asyncio.ensure_future(_read_range(http, ref, size, start, min(size, start + step), put))
        for start in range(0, size, step)
    ]
    try:
        versions = set(await asyncio.gather(*tasks))
    finally:  # on the first failure gather leaves the other ranges running: end them here
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if len(versions) > 1:
        raise DataError(
            f"{ref.uri} changed while its ranges were read (versions {sorted(versions)})"
        )


async def _read_range(
    http: Http, ref: ObjectRef, size: int, start: int, stop: int, put: Put
) -> str:
    """Read ``[start, stop)`` into ``put``; return the object version it came from."""
    reader = ObjectReader(http, ref, byte_range=(start, stop))
    try:
        total = _total_size(await reader.open())
        if total is not None and total != size:
            raise DataError(f"{ref.uri} is {total} bytes, not {size} (changed since listed?)")
        pos = start
        while chunk := await reader.read():
            if pos + len(chunk) > stop:
                raise DataError(f"{ref.uri}: range {start}-{stop} answered more bytes than asked")
            put(pos, chunk)
            pos += len(chunk)
        if pos != stop:
            raise IncompleteRead(f"{ref.uri}: range {start}-{stop} ended at byte {pos}")
        return reader.version or ""
    finally:
        await reader.aclose()


def _total_size(resp: aiohttp.ClientResponse) -> int | None:
    """The object's size from the ``Content-Range`` of a 206 (``bytes a-b/size``; None for
    ``*``, unknown). The reader has already refused a 206 without a ``Content-Range``."""
    total = resp.headers.get("Content-Range", "").rpartition("/")[2]
    return int(total) if total.isdigit() else None
