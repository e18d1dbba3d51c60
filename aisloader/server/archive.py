"""Archive objects (.tar, .tgz/.tar.gz, .zip): member indexes and member streams.

Indexes are cached per ``(path, mtime_ns, size)`` in a bounded LRU, so listing with ARCH_DIR
and ``archpath`` reads open each archive once. All functions here block: call them in a thread.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import tarfile
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from aisloader.server.errors import EmuError

__all__ = ["ArchiveIndex", "Member", "Reader", "archive_kind", "member_name"]

# What a corrupt or crafted archive object raises while indexed, opened or read (an encrypted
# zip member: RuntimeError; an unknown compression method: NotImplementedError, a subclass).
_BAD_DATA = (
    tarfile.TarError,
    zipfile.BadZipFile,  # also a member's bad CRC, found when it is read to its end
    gzip.BadGzipFile,
    zlib.error,
    EOFError,
    ValueError,
    RuntimeError,
)
_BAD_ARCHIVE = (*_BAD_DATA, OSError)
_KINDS = ((".tar.gz", "tgz"), (".tgz", "tgz"), (".tar", "tar"), (".zip", "zip"))


def archive_kind(name: str) -> str:
    """``"tar"``, ``"tgz"``, ``"zip"`` by file extension, or ``""`` for a non-archive."""
    for ext, kind in _KINDS:
        if name.endswith(ext):
            return kind
    return ""


class Reader(Protocol):
    """A blocking byte stream the caller closes."""

    def read(self, n: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Member:
    """One regular file inside an archive.

    ``name`` is cleaned (no ``./``, no leading ``/``), ``raw`` is the name as stored, and
    ``offset`` is the data offset in a plain .tar (-1 otherwise).
    """

    name: str
    size: int
    offset: int = -1
    raw: str = ""


def _clean(name: str) -> str:
    cleaned = posixpath.normpath("/" + name).lstrip("/")
    return "" if cleaned in ("", ".") else cleaned


def _read_members(path: Path, kind: str) -> list[Member]:
    out: dict[str, Member] = {}
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir() and (name := _clean(info.filename)):
                    out[name] = Member(name, info.file_size, raw=info.filename)
    else:
        with tarfile.open(path, "r:gz" if kind == "tgz" else "r:") as tf:
            end = 0
            for ti in tf:
                if ti.isreg() and (name := _clean(ti.name)):
                    offset = ti.offset_data if kind == "tar" else -1
                    out[name] = Member(name, ti.size, offset, ti.name)
                end = ti.offset_data + ti.size
            _check_tar_end(path, kind, tf.offset, end)
    return [out[k] for k in sorted(out)]


def _check_tar_end(path: Path, kind: str, stopped: int, end: int) -> None:
    """Raise ``tarfile.ReadError`` when ``tarfile`` stopped early without saying so: a header
    it could not parse after the first ends its iteration silently, and a member's declared
    data may run past the end of a cut file. Whatever follows the last member must be the
    end-of-archive zero blocks."""
    with gzip.open(path) if kind == "tgz" else open(path, "rb") as raw:
        raw.seek(stopped)
        while chunk := raw.read(1 << 16):
            if chunk.strip(b"\0"):
                raise tarfile.ReadError(f"unreadable tar header at byte {stopped}")
        size = raw.tell()
    if end > size:
        raise tarfile.ReadError(f"truncated: a member ends at byte {end} of {size}")


def member_name(obj: str, archpath: str) -> str:
    """Normalize an ``archpath`` query value: strip a leading ``/`` and ``{obj}/``."""
    archpath = archpath.lstrip("/")
    archpath = archpath.removeprefix(obj + "/")
    return _clean(archpath)


class ArchiveIndex:
    """Bounded LRU of archive member lists keyed by ``(path, mtime_ns, size)``."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int, int], dict[str, Member]] = OrderedDict()

    def members(self, path: Path, kind: str) -> dict[str, Member]:
        """Name-sorted members of the archive at ``path`` (blocking).

        Raises:
            EmuError: 400 when the file is not a readable archive of that kind.
        """
        st = os.stat(path)
        key = (str(path), st.st_mtime_ns, st.st_size)
        with self._lock:
            got = self._cache.get(key)
            if got is not None:
                self._cache.move_to_end(key)
                return got
        try:
            found = {m.name: m for m in _read_members(path, kind)}
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise  # no such archive object: the caller answers 404
        except _BAD_ARCHIVE as e:
            raise _unreadable(path, kind, e) from None
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return found

    def open_member(self, path: Path, kind: str, member: Member) -> Reader:
        """A stream of the member's bytes; the caller closes it (blocking).

        For a plain .tar the returned stream is the archive file itself, positioned at the
        member's data (read exactly ``member.size`` bytes).

        Raises:
            EmuError: 400 when the archive cannot be read.
        """
        try:
            if kind == "tar":
                f = open(path, "rb")  # noqa: SIM115 - ownership passes to the caller
                f.seek(member.offset)
                return f
            if kind == "zip":
                zf = zipfile.ZipFile(path)
                return _Closing(zf.open(member.raw), zf, path, kind)
            tf = tarfile.open(path, "r:gz")  # noqa: SIM115 - closed with the member stream
            stream = tf.extractfile(member.raw)
            if stream is None:
                tf.close()
                raise EmuError(400, f"{path.name}: {member.name} is not a regular file")
            return _Closing(stream, tf, path, kind)
        except (*_BAD_ARCHIVE, KeyError) as e:
            raise _unreadable(path, kind, e) from None


def _unreadable(path: Path, kind: str, e: Exception) -> EmuError:
    """A 400 for an archive that cannot be read; for an ``OSError``, its ``strerror`` only
    (``str(e)`` names the file by its absolute path under the store root)."""
    why = (e.strerror if isinstance(e, OSError) else None) or str(e) or type(e).__name__
    return EmuError(400, f"{path.name}: failed to read {kind} archive: {why}")


class _Closing:
    """A member stream that also closes its archive; corrupt data read from it (a bad CRC,
    a broken deflate stream) is the same 400 as an archive that cannot be indexed."""

    def __init__(
        self, stream: IO[bytes], owner: zipfile.ZipFile | tarfile.TarFile, path: Path, kind: str
    ) -> None:
        self._stream = stream
        self._owner = owner
        self._path, self._kind = path, kind

    def read(self, n: int = -1) -> bytes:
        try:
            return self._stream.read(n)
        except _BAD_DATA as e:
            raise _unreadable(self._path, self._kind, e) from None

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._owner.close()
