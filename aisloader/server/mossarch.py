"""Incremental archive writers for get-batch output: tar, gzip-compressed tar, zip.

Each writer turns ``begin(name, size)`` / ``data(chunk)`` / ``end()`` / ``finish()`` calls into
the bytes to send next, so an archive is produced as entries are read and memory stays bounded
by one chunk (zip included: it is written with data descriptors, as to a non-seekable stream).
"""

from __future__ import annotations

import io
import tarfile
import time
import warnings
import zipfile
import zlib
from typing import IO, Protocol

__all__ = ["ArchiveWriter", "make_writer"]

_BLOCK = 512
_GZIP_LEVEL = 1


class ArchiveWriter(Protocol):
    """Builds one archive; every method returns the bytes produced (possibly empty)."""

    def begin(self, name: str, size: int) -> bytes: ...

    def data(self, chunk: bytes) -> bytes: ...

    def end(self) -> bytes: ...

    def finish(self) -> bytes: ...


class _Tar:
    """Plain tar: a header per member (PAX only when a name needs it), data, zero padding."""

    def __init__(self) -> None:
        self._size = 0
        self._mtime = int(time.time())

    def begin(self, name: str, size: int) -> bytes:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode, ti.type = size, self._mtime, 0o644, tarfile.REGTYPE
        self._size = size
        return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def data(self, chunk: bytes) -> bytes:
        return chunk

    def end(self) -> bytes:
        return b"\0" * (-self._size % _BLOCK)

    def finish(self) -> bytes:
        return b"\0" * (2 * _BLOCK)  # end-of-archive: two zero blocks, as Go's tar writer


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
