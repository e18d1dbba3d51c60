"""Open get-batch entries beneath their bucket directory without ``realpath`` per entry.

One `Opener` serves one request. Each directory on the way to an object is opened once per
request with ``O_NOFOLLOW | O_DIRECTORY`` relative to its (already open) parent, and the object
itself with ``O_NOFOLLOW`` relative to its directory, so no symlink is ever followed and nothing
outside the bucket can be reached: names were checked by the pure rules (no ``..``, no empty or
absolute components) when the request was parsed. A symlink met on the way is not an error
here: `Opener.open` answers `FALLBACK` and the caller falls back to the store's ``realpath``
check, which keeps the old rule (a link that stays inside the bucket is served, one that
escapes is refused).
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["MAX_DIRS", "FALLBACK", "FdReader", "Opener"]

MAX_DIRS = 64  # bound on directory fds one request keeps open
FALLBACK = -2  # `Opener.open`: use the slow path (a symlink or something unusual is in the way)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class Opener:
    """Per-request cache of directory fds under bucket directories; `close` releases them."""

    def __init__(self) -> None:
        self._dirs: dict[tuple[str, str], int] = {}

    def open(self, bdir: str, name: str) -> tuple[int, int]:
        """``(fd, size)`` of regular file ``name`` under the resolved bucket directory ``bdir``.

        ``fd`` is -1 when there is no such regular file (missing, or a directory) and
        `FALLBACK` for any other failure: a symlink on the path (``ELOOP``, or ``ENOTDIR`` for
        a linked directory), a file where a directory should be, no fds left. The caller
        closes a returned fd.
        """
        head, _, leaf = name.rpartition("/")
        try:
            dfd = self._dir(bdir, head)
            fd = os.open(leaf, _FILE_FLAGS, dir_fd=dfd)
        except OSError as e:
            return (-1, 0) if e.errno == errno.ENOENT else (FALLBACK, 0)
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return -1, 0
        return fd, st.st_size

    def _dir(self, bdir: str, head: str) -> int:
        fd = self._dirs.get((bdir, head))
        if fd is not None:
            return fd
        if len(self._dirs) >= MAX_DIRS:
            self.close()
        if not head:
            fd = os.open(bdir, _DIR_FLAGS)
        else:
            parent_head, _, last = head.rpartition("/")
            fd = os.open(last, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=self._dir(bdir, parent_head))
        self._dirs[bdir, head] = fd
        return fd

    def close(self) -> None:
        """Close every cached directory fd."""
        dirs, self._dirs = self._dirs, {}
        for fd in dirs.values():
            os.close(fd)


class FdReader:
    """A `Reader` over an open fd from ``offset`` (positional reads; `close` closes the fd)."""

    __slots__ = ("_fd", "_pos")

    def __init__(self, fd: int, offset: int) -> None:
        self._fd = fd
        self._pos = offset

    def read(self, n: int = -1, /) -> bytes:
        """Up to ``n`` bytes (``n < 0``: to the end of the file)."""
        if n < 0:
            n = max(os.fstat(self._fd).st_size - self._pos, 0)
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        return data

    def close(self) -> None:
        """Close the fd (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
