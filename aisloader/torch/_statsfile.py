"""The counter file of :mod:`aisloader.torch._stats`: its layout, taking a row, summing rows.

One file per dataset, ``HEADER`` bytes then ``ROWS`` rows of int64. A row: ``pid``,
``first_ns``, ``last_ns``, the gauges (``GAUGES``), then ``cur[NC]`` and ``base[NC]`` — the
cumulative counters (``OWN``, ``CLIENT``, the retry causes, the latency buckets) as the process
last published them, and what to subtract from them. The header: a magic number, the time of
the last reset and ``zero[NC]``, the sums at that reset. Rows are taken and the header written
under an exclusive ``flock``; readers take a shared one; a process writes its own row without.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

from aisloader.core.stats import BUCKETS, CAUSES, summary

__all__ = [
    "CUR",
    "HEADER",
    "HIST_AT",
    "NC",
    "OWN",
    "PREFIX",
    "PUBLISH",
    "ROW",
    "ROWS",
    "SIZE",
    "VECTOR",
    "aggregate",
    "alive",
    "close_file",
    "free_row",
    "open_file",
    "remove",
    "snapshot",
    "stats_dir",
    "sums_of",
]

ROWS = 128
"""Processes that can report at once per dataset (the main one and its live workers)."""
MAGIC = 0x41495353_54415431  # "AISSTAT1"
OWN = ("items", "queue_sum", "queue_n", "prefetched")  # the dataset's own counters
CLIENT = ("objects", "bytes", "requests", "retries", "redirects", "errors")
NC = len(OWN) + len(CLIENT) + len(CAUSES) + BUCKETS  # cumulative counters per row
GAUGES = ("in_flight", "in_flight_bytes", "queued")
CUR = 3 + len(GAUGES)
ROW = 8 * (CUR + 2 * NC)
HEADER = 1024
SIZE = HEADER + ROWS * ROW
SCALARS = len(OWN) + len(CLIENT) + len(CAUSES)
PUBLISH = struct.Struct(f"<{1 + len(GAUGES) + SCALARS}q")  # last_ns .. the last cause
HIST_AT = 8 * (CUR + SCALARS)  # where the latency buckets start in a row
VECTOR = struct.Struct(f"<{NC}q")
PREFIX = "aisloader-stats-"


def stats_dir() -> Path:
    """Where the counter files live: ``/dev/shm`` when writable, else the temp dir."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def open_file(path: Path) -> int:
    """The counter file, made (sized, with its header) if it is not there yet."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_size < SIZE:
            _allocate(fd)
            os.pwrite(fd, struct.pack("<2q", MAGIC, 0), 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BaseException:
        os.close(fd)
        raise
    return fd


def close_file(fd: int) -> None:
    """Unlock, then close: a mapping made from ``fd`` holds a duplicate of it, which would keep
    an ``flock`` held after a bare close."""
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _allocate(fd: int) -> None:
    """Size the file with its blocks reserved: a full ``/dev/shm`` fails here (ENOSPC), not
    with a SIGBUS when a mapped page is first written."""
    try:
        os.posix_fallocate(fd, 0, SIZE)
    except (AttributeError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
        os.ftruncate(fd, SIZE)  # no fallocate here: a sparse file


def snapshot(path: Path) -> bytes:
    """The whole file, read under a shared lock (no row is being taken meanwhile)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return b""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return os.pread(fd, SIZE, 0)
    finally:
        close_file(fd)


def free_row(fd: int) -> tuple[int, list[int]]:
    """A row to take (never used, or left by a process that exited) and the counts it holds."""
    raw, dead = os.pread(fd, SIZE, 0), -1
    for row in range(ROWS):
        pid = struct.unpack_from("<q", raw, HEADER + row * ROW)[0]
        if pid == 0:
            return row, [0] * NC
        if dead < 0 and not alive(pid):
            dead = row
    if dead < 0:
        return -1, []
    return dead, held(raw, HEADER + dead * ROW)


def held(buf: Any, at: int) -> list[int]:
    cur = VECTOR.unpack_from(buf, at + 8 * CUR)
    base = VECTOR.unpack_from(buf, at + 8 * (CUR + NC))
    return [c - b for c, b in zip(cur, base, strict=True)]


def sums_of(raw: bytes, *, zero: bool = True) -> tuple[list[int], list[int], dict[str, int]]:
    """Counters summed over the rows (less the reset's, with ``zero``), gauges over the live
    rows, and the rows' extent: ``processes``, ``first_ns``, ``last_ns``."""
    sums, gauges = [0] * NC, [0] * len(GAUGES)
    extent = {"processes": 0, "first_ns": 0, "last_ns": 0}
    for row in range(ROWS):
        at = HEADER + row * ROW
        pid, first, last, *live = struct.unpack_from(f"<{CUR}q", raw, at)
        if pid == 0:
            continue
        extent["processes"] += 1
        extent["first_ns"] = min(first, extent["first_ns"] or first)
        extent["last_ns"] = max(last, extent["last_ns"])
        sums = [s + h for s, h in zip(sums, held(raw, at), strict=True)]
        if alive(pid):
            gauges = [g + v for g, v in zip(gauges, live, strict=True)]
    if zero:
        sums = [s - z for s, z in zip(sums, VECTOR.unpack_from(raw, 16), strict=True)]
    return sums, gauges, extent


def aggregate(raw: bytes) -> dict[str, Any]:
    if len(raw) < SIZE:  # nothing read anywhere yet
        raw = struct.pack("<2q", MAGIC, 0) + bytes(SIZE - 16)
    sums, gauges, extent = sums_of(raw)
    reset_ns = struct.unpack_from("<q", raw, 8)[0]
    start = max(extent["first_ns"], reset_ns)
    elapsed = max(extent["last_ns"] - start, 0) / 1e9
    own = dict(zip(OWN, sums, strict=False))
    counters = dict(zip(CLIENT, sums[len(OWN) :], strict=False))
    at = len(OWN) + len(CLIENT)
    causes, latency = sums[at : at + len(CAUSES)], sums[at + len(CAUSES) :]
    out = summary({"items": own["items"], **counters}, causes, latency, elapsed)
    out["items_per_s"] = own["items"] / elapsed if elapsed > 0 else 0.0
    out.update(dict(zip(GAUGES, gauges, strict=True)))
    out["queue_mean"] = own["queue_sum"] / own["queue_n"] if own["queue_n"] else 0.0
    out["prefetched"] = own["prefetched"]
    out["processes"] = extent["processes"]
    return out


def alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove(owner: int, path: Path) -> None:
    if os.getpid() == owner:
        path.unlink(missing_ok=True)
