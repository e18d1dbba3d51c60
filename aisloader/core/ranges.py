"""Large objects read as concurrent range GETs into one preallocated buffer, on the loop.

The object is cut into at most ``workers`` ranges of at least ``min_part`` bytes; each range is
read by its own :class:`~aisloader.core.http.reader.ObjectReader` (retried and resumed on its
own) straight into its slice of one ``bytearray``. Every range must come from the same object
version, otherwise the object changed while it was read and the read fails rather than return
a mix of two versions.
"""

from __future__ import annotations

import asyncio

from aisloader.core.http.reader import ObjectReader
from aisloader.core.http.session import Http
from aisloader.errors import ConfigError, DataError, IncompleteRead
from aisloader.refs import ObjectRef

__all__ = ["read_ranges"]


async def read_ranges(
    http: Http, ref: ObjectRef, size: int, *, workers: int, min_part: int
) -> bytearray:
    """The first ``size`` bytes of ``ref`` (its whole size), read as concurrent ranges.

    Raises:
        ConfigError: ``workers`` or ``min_part`` < 1.
        DataError: the object changed (another version) while its ranges were read.
        IncompleteRead: a range came back shorter than asked.
        ObjectNotFound, AISError, TransportError: as for a GET.
    """
    if workers < 1 or min_part < 1:
        raise ConfigError(f"workers and min_part must be >= 1, got {workers}, {min_part}")
    buffer = bytearray(size)
    if not size:
        return buffer
    parts = max(1, min(workers, size // min_part))
    step = -(-size // parts)
    view = memoryview(buffer)
    versions = await asyncio.gather(
        *(
            _read_into(http, ref, view, start, min(size, start + step))
            for start in range(0, size, step)
        )
    )
    if len(set(versions)) > 1:
        raise DataError(
            f"{ref.uri} changed while its ranges were read (versions {sorted(set(versions))})"
        )
    return buffer


async def _read_into(http: Http, ref: ObjectRef, view: memoryview, start: int, stop: int) -> str:
    reader = ObjectReader(http, ref, byte_range=(start, stop))
    try:
        pos = start
        while chunk := await reader.read():
            if pos + len(chunk) > stop:
                raise DataError(f"{ref.uri}: range {start}-{stop} answered more bytes than asked")
            view[pos : pos + len(chunk)] = chunk
            pos += len(chunk)
        if pos != stop:
            raise IncompleteRead(f"{ref.uri}: range {start}-{stop} ended at byte {pos}")
        return reader.version or ""
    finally:
        await reader.aclose()
