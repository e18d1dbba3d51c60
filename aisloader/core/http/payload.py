"""Object PUT bodies: bytes, binary files and async iterables, with their rewind rules."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterable, AsyncIterator
from typing import IO, Any

from aisloader.errors import ConfigError

__all__ = ["Payload", "PutData"]

PutData = bytes | bytearray | memoryview | IO[bytes] | AsyncIterable[bytes]


class Payload:
    """A PUT body that knows its length (when it can) and whether it can be sent again."""

    def __init__(self, data: PutData, chunk_size: int) -> None:
        self._chunk = chunk_size
        self._used = False
        self._file: IO[bytes] | None = None
        self._iter: AsyncIterable[bytes] | None = None
        self._bytes: bytes | None = None
        self.length: int | None = None
        if isinstance(data, bytes | bytearray | memoryview):
            self._bytes = bytes(data)
            self.length = len(self._bytes)
        elif hasattr(data, "read"):
            self._file = data  # type: ignore[assignment]
            self._start, self.length = _file_span(data)  # type: ignore[arg-type]
        elif hasattr(data, "__aiter__"):
            self._iter = data
        else:
            raise ConfigError(
                f"put() takes bytes, a binary file or an async iterable of bytes, not {data!r}"
            )

    @property
    def rewindable(self) -> bool:
        """Whether the body can be sent again (an async iterable is one-shot)."""
        return self._iter is None or not self._used

    def body(self) -> Any:
        """The body for one send (aiohttp ``data=``); rewinds a file first.

        Raises:
            RuntimeError: an async iterable body was already sent once.
        """
        if self._bytes is not None:
            return self._bytes
        if self._used and self._iter is not None:
            raise RuntimeError("an async-iterable PUT body cannot be sent twice")
        self._used = True
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self._iter is not None:
            async for chunk in self._iter:
                yield bytes(chunk)
            return
        f = self._file
        assert f is not None
        await asyncio.to_thread(f.seek, self._start)
        left = self.length
        while left is None or left > 0:
            n = self._chunk if left is None else min(self._chunk, left)
            chunk = await asyncio.to_thread(f.read, n)
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


def _file_span(f: IO[bytes]) -> tuple[int, int | None]:
    try:
        start = f.tell()
        size = os.fstat(f.fileno()).st_size
        return start, max(0, size - start)
    except (OSError, AttributeError, io.UnsupportedOperation):
        pass
    try:
        start = f.tell()
        end = f.seek(0, io.SEEK_END)
        f.seek(start)
        return start, end - start
    except (OSError, AttributeError, io.UnsupportedOperation):
        raise ConfigError("put() needs a seekable binary file (or pass bytes)") from None
