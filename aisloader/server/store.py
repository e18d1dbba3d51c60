"""One on-disk object store shared by every node of the embedded cluster (thread-safe).

Layout under ``root``: ``data/{provider}/{ns}/{bucket}/{object name}`` (plain files, so objects
persist across restarts and are readable with any tool) and ``tmp/`` for PUTs in flight, renamed
into place when complete so a reader never sees half an object.

In-memory caches, all guarded by one lock: per-object metadata (checksum, version) keyed by
``(mtime_ns, size)`` and recomputed lazily for files found on disk, and a sorted name index per
bucket (`aisloader.server.bucketindex`) that PUT and DELETE keep up to date, so paging a large
bucket costs O(page), not a walk.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import google_crc32c
import xxhash

from aisloader.server.bucketindex import BucketIndex, Entry
from aisloader.server.errors import EmuError, not_found_bucket
from aisloader.server.names import BucketId, check_object_name, parse_bucket

__all__ = ["CHECKSUM_TYPES", "Entry", "ObjMeta", "Store", "checksum_file", "new_hash"]

_HASH_CHUNK = 1 << 20
CHECKSUM_TYPES = ("xxhash", "crc32c")
"""Bucket checksum types the emulator computes (``checksum.type`` of the bucket props)."""


class Hasher(Protocol):
    """A streaming checksum: ``update`` then ``hexdigest`` (lower-case hex ``str``)."""

    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class _Crc32c:
    """CRC-32C as AIS reports it: 8 lower-case hex digits of the big-endian value."""

    __slots__ = ("_crc",)

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes, /) -> None:
        self._crc = int(google_crc32c.extend(self._crc, data))

    def hexdigest(self) -> str:
        return f"{self._crc:08x}"


def new_hash(kind: str = "xxhash") -> Hasher:
    """A fresh hasher of checksum type ``kind`` (one of `CHECKSUM_TYPES`)."""
    if kind == "crc32c":
        return _Crc32c()
    return xxhash.xxh64()


@dataclass(frozen=True)
class ObjMeta:
    """Object metadata: what HEAD/GET report besides the bytes."""

    mtime_ns: int
    size: int
    cksum: str
    version: int
    cktype: str = "xxhash"


def checksum_file(f: IO[bytes], kind: str = "xxhash") -> str:
    """The ``kind`` checksum (XXH64 seed 0 by default) hex of an open file from its start
    (blocking)."""
    h = new_hash(kind)
    f.seek(0)
    while chunk := f.read(_HASH_CHUNK):
        h.update(chunk)
    return h.hexdigest()


class Store:
    """Buckets and objects as files under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._data = root / "data"
        self._tmp = root / "tmp"
        self._lock = threading.Lock()
        self._buckets: dict[BucketId, Path] = {}
        self._created: dict[BucketId, int] = {}
        self._meta: dict[str, ObjMeta] = {}
        self._index: dict[BucketId, BucketIndex] = {}
        self._gen: dict[BucketId, int] = {}
        self._cktype: dict[BucketId, str] = {}
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir(parents=True)
        self._data.mkdir(parents=True, exist_ok=True)
        self._load_buckets()

    def _load_buckets(self) -> None:
        for prov in sorted(p for p in self._data.iterdir() if p.is_dir()):
            for ns in sorted(p for p in prov.iterdir() if p.is_dir()):
                for bdir in sorted(p for p in ns.iterdir() if p.is_dir()):
                    b = parse_bucket(bdir.name, prov.name, "" if ns.name == "@#" else ns.name)
                    self._buckets[b] = Path(os.path.realpath(bdir))
                    self._created[b] = bdir.stat().st_mtime_ns

    # ---------------------------------------------------------------- buckets

    def create_bucket(self, b: BucketId) -> bool:
        """Create ``b``; return False when it already existed."""
        with self._lock:
            if b in self._buckets:
                return False
            path = self._data / b.provider / (b.ns or "@#") / b.name
            path.mkdir(parents=True, exist_ok=True)
            self._buckets[b] = Path(os.path.realpath(path))
            self._created[b] = time.time_ns()
            return True

    def destroy_bucket(self, b: BucketId) -> bool:
        """Remove ``b`` and all its objects (blocking); return False when it did not exist."""
        with self._lock:
            path = self._buckets.pop(b, None)
            self._index.pop(b, None)
            self._created.pop(b, None)
            self._cktype.pop(b, None)
            self._gen[b] = self._gen.get(b, 0) + 1
            if path is not None:
                prefix = str(path) + os.sep
                for key in [k for k in self._meta if k.startswith(prefix)]:
                    del self._meta[key]
        if path is None:
            return False
        gone = self._tmp / f"destroy-{uuid.uuid4().hex}"
        os.replace(path, gone)
        shutil.rmtree(gone, ignore_errors=True)
        return True

    def buckets(self, provider: str = "") -> list[BucketId]:
        """All buckets, or those of one normalized provider, sorted."""
        with self._lock:
            return sorted(b for b in self._buckets if not provider or b.provider == provider)

    def bucket_dir(self, b: BucketId) -> Path:
        """The (resolved) directory of ``b``.

        Raises:
            EmuError: 404 ``ErrBckNotFound`` when the bucket does not exist.
        """
        path = self._buckets.get(b)
        if path is None:
            raise not_found_bucket(b.display)
        return path

    def bucket_props(self, b: BucketId) -> dict[str, object]:
        """A small ``cmn.Bprops``-like dict for the ``Ais-Bucket-Props`` header."""
        self.bucket_dir(b)
        return {
            "provider": b.provider,
            "bid": xxhash.xxh64_intdigest(b.uname("").encode()) & ((1 << 52) - 1),
            "created": self._created.get(b, 0),
            "versioning": {"enabled": True, "validate_warm_get": False},
            "checksum": {"type": self.checksum_type(b), "validate_cold_get": False},
            "mirror": {"enabled": False, "copies": 1},
            "ec": {"enabled": False},
        }

    def checksum_type(self, b: BucketId) -> str:
        """The checksum type of ``b``'s objects (``xxhash`` unless set)."""
        return self._cktype.get(b, "xxhash")

    def set_checksum_type(self, b: BucketId, kind: str) -> None:
        """Make ``b`` report (and lazily compute) ``kind`` checksums from now on.

        Raises:
            EmuError: 404 when the bucket does not exist.
            ValueError: ``kind`` is not one of `CHECKSUM_TYPES`.
        """
        self.bucket_dir(b)
        if kind not in CHECKSUM_TYPES:
            raise ValueError(f"checksum type {kind!r}: the emulator computes {CHECKSUM_TYPES}")
        with self._lock:
            self._cktype[b] = kind

    # ---------------------------------------------------------------- objects

    def object_path(self, b: BucketId, name: str) -> Path:
        """Validated path of object ``name``; never outside the bucket directory.

        Raises:
            EmuError: 404 for a missing bucket, 400 for a bad name or one resolving outside.
        """
        bdir = self.bucket_dir(b)
        check_object_name(b, name)
        path = bdir / name
        real = os.path.realpath(path)
        if not real.startswith(str(bdir) + os.sep):
            raise EmuError(400, f'invalid object name "{b.display}/{name[:64]}": escapes bucket')
        return path

    def tmp_path(self) -> Path:
        """A fresh temporary file path outside every bucket tree."""
        return self._tmp / uuid.uuid4().hex

    def commit(
        self, b: BucketId, name: str, tmp: Path, cksum: str, cktype: str = "xxhash"
    ) -> ObjMeta:
        """Atomically move a complete temp file into place as object ``name``.

        Raises:
            EmuError: 404 missing bucket, 400 bad name, 409 when the name collides with a
                directory (or a file where a directory is needed).
        """
        path = self.object_path(b, name)
        try:
            for attempt in range(2):
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp, path)
                    break
                except FileNotFoundError:
                    if attempt:
                        raise
        except (NotADirectoryError, IsADirectoryError, FileExistsError, FileNotFoundError) as e:
            tmp.unlink(missing_ok=True)
            why = e.strerror or type(e).__name__  # not str(e): it holds absolute paths
            msg = f"{b.display}/{name}: name conflicts with another object or directory ({why})"
            raise EmuError(409, msg) from None
        st = path.stat()
        with self._lock:
            old = self._meta.get(str(path))
            version = old.version + 1 if old else 1
            meta = ObjMeta(st.st_mtime_ns, st.st_size, cksum, version, cktype)
            self._meta[str(path)] = meta
            self._gen[b] = self._gen.get(b, 0) + 1
            idx = self._index.get(b)
            if idx is not None:
                idx.put(name, st.st_size, st.st_mtime_ns)
        return meta

    def put_bytes(self, b: BucketId, name: str, data: bytes) -> ObjMeta:
        """Store ``data`` as object ``name`` (blocking; creates nothing but the object)."""
        self.object_path(b, name)
        tmp = self.tmp_path()
        tmp.write_bytes(data)
        kind = self.checksum_type(b)
        h = new_hash(kind)
        h.update(data)
        return self.commit(b, name, tmp, h.hexdigest(), kind)

    def delete(self, b: BucketId, name: str) -> bool:
        """Delete object ``name``; return False when it did not exist."""
        path = self.object_path(b, name)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            return False
        with self._lock:
            self._meta.pop(str(path), None)
            self._gen[b] = self._gen.get(b, 0) + 1
            idx = self._index.get(b)
            if idx is not None:
                idx.remove(name)
        bdir = self.bucket_dir(b)
        parent = path.parent
        while parent != bdir:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
        return True

    def cached_meta(self, path: Path, st: os.stat_result, cktype: str = "xxhash") -> ObjMeta | None:
        """The cached metadata of ``path`` if it still matches ``st`` (mtime and size) and holds
        a ``cktype`` checksum."""
        meta = self._meta.get(str(path))
        if (
            meta
            and meta.mtime_ns == st.st_mtime_ns
            and meta.size == st.st_size
            and meta.cktype == cktype
        ):
            return meta
        return None

    def compute_meta(self, path: Path, f: IO[bytes], cktype: str = "xxhash") -> ObjMeta:
        """Checksum (``cktype``) an open object file found on disk and cache the result
        (blocking)."""
        st = os.fstat(f.fileno())
        cksum = checksum_file(f, cktype)
        with self._lock:
            old = self._meta.get(str(path))
            version = old.version if old else 1
            meta = ObjMeta(st.st_mtime_ns, st.st_size, cksum, version, cktype)
            self._meta[str(path)] = meta
        return meta

    def object_meta(self, b: BucketId, name: str) -> ObjMeta | None:
        """Metadata of an existing object (checksums it if not cached; blocking)."""
        path = self.object_path(b, name)
        try:
            with open(path, "rb") as f:
                kind = self.checksum_type(b)
                st = os.fstat(f.fileno())
                return self.cached_meta(path, st, kind) or self.compute_meta(path, f, kind)
        except OSError:
            return None

    # ---------------------------------------------------------------- listing

    def ensure_index(self, b: BucketId) -> None:
        """Build the sorted name index of ``b`` if missing (blocking walk; run in a thread).

        Raises:
            EmuError: 404 when the bucket does not exist.
        """
        for _ in range(5):
            with self._lock:
                if b in self._index:
                    return
                gen = self._gen.get(b, 0)
            idx = BucketIndex.walk(self.bucket_dir(b))
            with self._lock:
                if self._gen.get(b, 0) == gen and b in self._buckets:
                    self._index[b] = idx
                    return
        with self._lock:
            self._index[b] = BucketIndex.walk(self.bucket_dir(b))

    def page(self, b: BucketId, prefix: str, after: str, limit: int) -> list[Entry]:
        """Up to ``limit`` objects named ``> after`` with ``prefix``, sorted (index must exist)."""
        with self._lock:
            idx = self._index.get(b)
            if idx is None:
                raise EmuError(500, f"{b.display}: listing index missing")
            return idx.page(prefix, after, limit)

    def stat_entry(self, b: BucketId, name: str) -> Entry | None:
        """The indexed ``(name, size, mtime_ns)`` of one object, if present."""
        with self._lock:
            idx = self._index.get(b)
            return idx.get(name) if idx else None
