"""Incremental archive writers for the get-batch answer: tar, gzip-compressed tar, zip.

Each writer turns ``begin(name, size)`` / ``data(chunk)`` / ``end()`` / ``finish()`` calls into
the bytes to send next, so an archive is produced as entries are read and memory stays bounded
by one chunk (zip included: it is written with data descriptors, as to a non-seekable stream).
A `Coalescer` gathers those many small pieces (a 512-byte header, the data, the padding) into
few large writes.
"""

from __future__ import annotations

import io
import tarfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Awaitable, Callable
from typing import IO, Protocol

__all__ = ["FLUSH_AT", "ArchiveWriter", "Coalescer", "make_writer"]

_BLOCK = 512
_GZIP_LEVEL = 1
FLUSH_AT = 256 << 10  # archive bytes go out in writes of about this size


class ArchiveWriter(Protocol):
    """Builds one archive; every method returns the bytes produced (possibly empty)."""

    def begin(self, name: str, size: int) -> bytes: ...

    def data(self, chunk: bytes) -> bytes: ...

    def end(self) -> bytes: ...

    def finish(self) -> bytes: ...


_NAME_MAX = 100  # ustar name field; longer (or non-ASCII) names get a PAX header
_SIZE_MAX = 8**11 - 1  # 11 octal digits; larger sizes get a PAX header
_IDS = b"0000644\x000000000\x000000000\x00"  # mode, uid, gid
# typeflag "0", empty linkname, "ustar\0" "00", empty uname/gname/devmajor/devminor/prefix, pad
_TAIL = b"0" + bytes(100) + b"ustar\x0000" + bytes(32 + 32 + 8 + 8 + 155 + 12)
_PADS = [bytes(n) for n in range(_BLOCK)]


def _octal12(n: int) -> bytes:
    return b"%011o\x00" % n


class _Tar:
    """Plain tar: a ustar header per member (PAX only when a name or size needs it), data, padding.

    Headers are byte-identical to ``tarfile.TarInfo.tobuf(PAX_FORMAT)`` for the same name, size,
    mode 0644 and mtime; the common case is built here directly, the rest by ``tarfile``.
    """

    def __init__(self) -> None:
        self._size = 0
        self._mtime = int(time.time())
        self._mtime_field = _octal12(self._mtime)
        # checksum of the fixed fields, with the checksum field counted as 8 spaces
        self._fixed_sum = sum(_IDS) + sum(self._mtime_field) + 8 * 32 + sum(_TAIL)

    def begin(self, name: str, size: int) -> bytes:
        self._size = size
        if name.isascii() and len(name) <= _NAME_MAX and 0 <= size <= _SIZE_MAX:
            raw = name.encode("ascii")
            size_field = _octal12(size)
            chksum = self._fixed_sum + sum(raw) + sum(size_field)
            return b"".join(
                (
                    raw,
                    _PADS[_NAME_MAX - len(raw)],
                    _IDS,
                    size_field,
                    self._mtime_field,
                    b"%06o\x00 " % chksum,
                    _TAIL,
                )
            )
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode, ti.type = size, self._mtime, 0o644, tarfile.REGTYPE
        return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def data(self, chunk: bytes) -> bytes:
        return chunk

    def end(self) -> bytes:
        return _PADS[-self._size % _BLOCK]

    def finish(self) -> bytes:
        return bytes(2 * _BLOCK)  # end-of-archive: two zero blocks, as Go's tar writer


class _Tgz:
    """A tar passed through one streaming gzip compressor."""

    def __init__(self) -> None:
        self._tar = _Tar()
        self._z = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip framing

    def begin(self, name: str, size: int) -> bytes:
        return self._z.compress(self._tar.begin(name, size))

    def data(self, chunk: bytes) -> bytes:
        return self._z.compress(chunk)

    def end(self) -> bytes:
        return self._z.compress(self._tar.end())

    def finish(self) -> bytes:
        return self._z.compress(self._tar.finish()) + self._z.flush()


class _Sink(io.RawIOBase):
    """A non-seekable byte sink that zipfile writes to; `take` hands out what was written."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._parts.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class _Zip:
    """Zip (stored, data descriptors); duplicate member names are allowed, as in AIS."""

    def __init__(self) -> None:
        self._sink = _Sink()
        self._zf = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_STORED)
        self._w: IO[bytes] | None = None
        self._date = time.localtime()[:6]

    def begin(self, name: str, size: int) -> bytes:
        info = zipfile.ZipInfo(name, self._date)
        info.file_size = size
        info.external_attr = 0o644 << 16
        with warnings.catch_warnings():  # zipfile warns on duplicate names; they are wanted
            warnings.simplefilter("ignore", UserWarning)
            self._w = self._zf.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT)
        return self._sink.take()

    def data(self, chunk: bytes) -> bytes:
        assert self._w is not None
        self._w.write(chunk)
        return self._sink.take()

    def end(self) -> bytes:
        if self._w is not None:
            self._w.close()
            self._w = None
        return self._sink.take()

    def finish(self) -> bytes:
        self.end()
        self._zf.close()
        return self._sink.take()


def make_writer(kind: str) -> ArchiveWriter:
    """A writer for ``kind`` (``"tar"``, ``"tgz"`` or ``"zip"``)."""
    if kind == "zip":
        return _Zip()
    return _Tgz() if kind == "tgz" else _Tar()


Write = Callable[[bytes | bytearray], Awaitable[None]]


class Coalescer:
    """Answer bytes gathered into writes of about `FLUSH_AT` (a buffer of at most twice that).

    A flushed buffer is handed to ``write`` and never touched again (a transport may keep a
    reference to it).
    """

    def __init__(self, write: Write) -> None:
        self._write = write
        self._buf = bytearray()

    async def emit(self, data: bytes) -> None:
        """Hold ``data`` back, or write it out (with what is held) once there is enough."""
        if len(data) >= FLUSH_AT:
            await self.flush()
            await self._write(data)
            return
        self._buf += data
        if len(self._buf) >= FLUSH_AT:
            await self.flush()

    async def flush(self) -> None:
        """Write out whatever is held back."""
        if self._buf:
            data, self._buf = self._buf, bytearray()
            await self._write(data)
