"""``dataset.stats()``: one dataset's counters, summed over the main process and every
DataLoader worker that reads it.

Each process that reads the dataset owns one fixed-size row of int64 counters in a small file
mapped into memory (under ``/dev/shm`` where it exists, else the temp dir), named by the
dataset's id: the main process and the workers of every start method find it by name (the
dataset pickles its id, never a handle). A process takes a row once, under an ``flock``, and
from then on writes only its own row, without a lock; a reader sums the rows. A row holds what
the process's client counted since the dataset started reading there (``cur - base``), so a
row left by a worker that exited keeps its counts and a new worker can take it over (its
``base`` is set so the counts carry on): the rows stay bounded
(:data:`~aisloader.torch._statsfile.ROWS`) however many workers come and go. The file's
layout is in :mod:`aisloader.torch._statsfile`.

The file is made by the first process that needs it and removed by the process that made the
dataset, when the dataset is garbage-collected or at exit; a dataset unpickled in a process
whose maker is gone (``torch.load`` later) becomes its own maker.

A row is written at each list the consumer takes (iterable datasets), after each
``__getitem__``/``__getitems__`` (map-style) and at the end of a pass: about 2 µs (one
``struct.pack_into`` and a 512-byte copy of the latency buckets), never a lock or a syscall.

Counts that come from the client (objects, bytes, requests, retries, latency, in flight) are
those of the process's shared client, which every dataset with the same endpoint and config
uses in that process: two such datasets read at once in one process both count that traffic.
A reset of that client's counters (``client.stats.reset()``) keeps what the row had published.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import struct
import time
import uuid
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aisloader.core.http.retry import Stats
from aisloader.core.stats import Tally
from aisloader.torch._conn import TorchConn
from aisloader.torch._statsfile import (
    CUR,
    HEADER,
    HIST_AT,
    NC,
    OWN,
    PREFIX,
    PUBLISH,
    ROW,
    SIZE,
    VECTOR,
    aggregate,
    alive,
    close_file,
    free_row,
    open_file,
    remove,
    snapshot,
    stats_dir,
    sums_of,
)

__all__ = ["DatasetStats", "Recorder", "WithStats"]

_log = logging.getLogger("aisloader.stats")


class Recorder:
    """This process's row of one dataset: what the consumer took, published with the client's
    counters. Writes never lock: the row is this process's alone."""

    def __init__(self, mm: Any, row: int, stats: Stats, base: list[int]) -> None:
        self.pid = os.getpid()
        self._mm, self._at, self._stats = mm, HEADER + row * ROW, stats
        self._hist = memoryview(stats.latency.counts).cast("B")
        self._base, self._generation = base, stats.generation
        self.items = self.queue_sum = self.queue_n = self.prefetched = 0
        self._tally: Tally | None = None
        self._taken = 0
        self._depth = 0

    def begin(self, tally: Tally) -> None:
        """An iteration starts: ``tally`` counts what its producer made (for ``queued``)."""
        self._tally, self._taken = tally, 0

    def took(self, n: int) -> None:
        """The consumer took ``n`` items (one list from the bridge); publish."""
        self.items += n
        self._taken += n
        self.queue_sum += self._queued()
        self.queue_n += 1
        self.publish()

    def end(self) -> None:
        """The iteration ended: nothing waits in its bridge any more; publish."""
        self._tally = None
        self.publish()

    def __enter__(self) -> Recorder:
        self._depth += 1
        return self

    def add(self, n: int) -> None:
        """Count ``n`` items handed out by the outermost ``with`` (a batch that reads its
        items one by one through nested calls counts them once)."""
        if self._depth <= 1:
            self.items += n

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._depth -= 1
        if self._depth <= 0:
            self.publish()

    def _queued(self) -> int:
        tally = self._tally
        return max(tally.made - self._taken, 0) if tally is not None else 0

    def publish(self) -> None:
        """Write this process's counters into its row."""
        s = self._stats
        if s.generation != self._generation:  # the client's counters were reset
            self._rebase()
        PUBLISH.pack_into(
            self._mm,
            self._at + 16,
            time.monotonic_ns(),
            s.in_flight,
            s.in_flight_bytes,
            self._queued(),
            self.items,
            self.queue_sum,
            self.queue_n,
            self.prefetched,
            s.objects,
            s.bytes_received,
            s.requests,
            s.retries,
            s.redirects,
            sum(s.errors.values()) if s.errors else 0,
            *s.causes,
        )
        at = self._at + HIST_AT
        self._mm[at : at + len(self._hist)] = self._hist

    def _rebase(self) -> None:
        """Keep the row's counts across a reset of the client's counters (which count from 0
        again): the client's part of ``base`` becomes minus what the row held at its last
        publish, so ``cur - base`` goes on from there (what the client counted between that
        publish and the reset is lost)."""
        at = self._at + 8 * CUR
        cur = VECTOR.unpack_from(self._mm, at)
        for i in range(len(OWN), NC):
            self._base[i] = self._base[i] - cur[i]
        VECTOR.pack_into(self._mm, at + 8 * NC, *self._base)
        self._generation = self._stats.generation


class _NoRow(Recorder):
    """A process that could not take a row (no room for the file, or every row taken by a
    live process): it reads on, uncounted."""

    def __init__(self) -> None:  # no super().__init__: there is nothing to write to
        self.pid, self.items, self.prefetched, self._depth = os.getpid(), 0, 0, 0

    def begin(self, tally: Tally) -> None:
        pass

    def took(self, n: int) -> None:
        pass

    def end(self) -> None:
        pass

    def publish(self) -> None:
        pass


_live: weakref.WeakValueDictionary[str, Recorder] = weakref.WeakValueDictionary()
"""This process's recorders by dataset id (copies of one dataset share one row)."""


class DatasetStats:
    """The counters of one dataset across processes (module docs). Picklable: by id."""

    def __init__(self, uid: str | None = None, owner: int = 0) -> None:
        self.uid = uid or uuid.uuid4().hex
        self.path = stats_dir() / f"{PREFIX}{self.uid}"
        self._owner = owner
        self._rec: Recorder | None = None
        if uid is None or not alive(owner):  # new here, or its maker is gone: remove from here
            self._owner = os.getpid()
            weakref.finalize(self, remove, self._owner, self.path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (DatasetStats, (self.uid, self._owner))

    def recorder(self, stats: Callable[[], Stats]) -> Recorder:
        """This process's row, taken on first use (``stats()`` gives the client's counters;
        the row counts from then on)."""
        rec = self._rec
        if rec is not None and rec.pid == os.getpid():
            return rec
        rec = _live.get(self.uid)
        if rec is None or rec.pid != os.getpid():
            rec = _live[self.uid] = self._claim(stats())
        self._rec = rec
        return rec

    def _claim(self, stats: Stats) -> Recorder:
        """Take a row (under the file's lock) whose counts go on from what it holds; a process
        that cannot (no room in ``/dev/shm``, every row taken) reads on, uncounted."""
        try:
            fd = open_file(self.path)
        except OSError as exc:
            _log.warning("cannot count %s in this process: %s", self.path, exc)
            return _NoRow()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            row, held = free_row(fd)
            if row < 0:
                _log.warning("no free stats row in %s: this process is not counted", self.path)
                return _NoRow()
            now = _vector(stats)
            base = [c - h for c, h in zip(now, held, strict=True)]
            at = HEADER + row * ROW
            first = struct.unpack("<q", os.pread(fd, 8, at + 8))[0] or time.monotonic_ns()
            head = struct.pack("<2q", os.getpid(), first) + bytes(8 * (CUR - 2))
            os.pwrite(fd, head + VECTOR.pack(*now) + VECTOR.pack(*base), at)
            rec = Recorder(mmap.mmap(fd, SIZE), row, stats, base)
            rec.publish()
            return rec
        finally:
            close_file(fd)  # the mapping stays

    def read(self) -> dict[str, Any]:
        """Every process's counters summed (this process's published first); see
        :meth:`~aisloader.torch._base.EpochIterable.stats` for the keys."""
        self._publish_here()
        return aggregate(snapshot(self.path))

    def reset(self) -> None:
        """Count from zero now, in every process (the in-flight gauges stay as they are)."""
        self._publish_here()
        fd = open_file(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, SIZE, 0)
            sums, _, _ = sums_of(raw, zero=False)
            os.pwrite(fd, struct.pack("<q", time.monotonic_ns()), 8)
            os.pwrite(fd, VECTOR.pack(*sums), 16)
        finally:
            close_file(fd)

    def _publish_here(self) -> None:
        if self._rec is not None and self._rec.pid == os.getpid():
            self._rec.publish()


def _vector(stats: Stats) -> list[int]:
    """A row's cumulative counters, in row order: the dataset's own (none yet) and the
    client's."""
    client = stats.counters().values()
    return [0] * len(OWN) + [*client, *stats.causes, *stats.latency.counts]


class WithStats:
    """``stats()`` / ``reset_stats()`` of a dataset that keeps a :class:`DatasetStats` in
    ``_stats`` and its connection in ``_conn`` (the iterable and the map-style bases)."""

    _stats: DatasetStats
    _conn: TorchConn

    def _client_stats(self) -> Stats:
        return self._conn.client().stats

    def stats(self) -> dict[str, Any]:
        """Counters of this dataset summed over the main process and every DataLoader worker
        that read it (any start method; workers that exited still count), as a plain dict:
        ``items`` taken by the consumers; ``objects``, ``bytes``, ``requests``, ``retries``,
        ``redirects``, ``errors``; ``items_per_s``, ``objects_per_s``, ``mb_per_s`` over
        ``elapsed_s`` (first count, or :meth:`reset_stats`, to the latest); GET latency
        ``latency_p50_ms``/``latency_p99_ms`` (first request to last byte, retries included;
        None before any); ``retries_by_cause`` (``{"503": n, "network": n, …}``); gauges of
        the live processes as of their latest count: ``in_flight``, ``in_flight_bytes`` (reads
        open, bytes they hold), ``queued`` (items waiting in the bridge queue; 0 for a
        map-style dataset, whose batches have none); ``queue_mean`` (``queued`` when a list
        was taken, on average); ``prefetched``: map-style batches taken from a read that a
        :class:`~aisloader.torch.Lookahead` batch started; ``processes`` that counted. A
        worker counts each list (or map-style call) it takes and the end of its pass.

        Raises:
            OSError: the counter file cannot be read.
        """
        return self._stats.read()

    def reset_stats(self) -> None:
        """Make :meth:`stats` count from zero now, in every process."""
        self._stats.reset()
