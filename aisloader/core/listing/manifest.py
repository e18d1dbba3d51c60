"""A compact, picklable listing: N object names and sizes in a few flat buffers.

A Python list of N objects (what the official plugin keeps) makes every forked DataLoader worker
copy the pages it touches, because reading an object writes its reference count. Here the names
live in one ``bytes`` blob with an ``array`` of offsets, so touching index ``i`` allocates a
short string and writes to no shared page; the whole manifest pickles as a handful of buffers.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from pathlib import Path

import msgspec
import xxhash

from aisloader.refs import Bucket, ObjectRef

__all__ = ["Manifest", "ManifestBuilder"]


class _Saved(msgspec.Struct, frozen=True):
    buckets: list[tuple[str, str, str]]
    names: bytes
    offsets: bytes
    sizes: bytes
    bucket_ids: bytes


class Manifest:
    """An immutable list of ``(bucket, name, size)``, indexable in O(1)."""

    __slots__ = ("_bucket_ids", "_fingerprint", "_names", "_offsets", "_sizes", "buckets")

    def __init__(
        self,
        buckets: tuple[Bucket, ...],
        names: bytes,
        offsets: array[int],
        sizes: array[int],
        bucket_ids: array[int],
    ) -> None:
        if not len(offsets) == len(sizes) + 1 == len(bucket_ids) + 1:
            raise ValueError("manifest buffers disagree in length")
        self.buckets = buckets
        self._names, self._offsets, self._sizes, self._bucket_ids = (
            names,
            offsets,
            sizes,
            bucket_ids,
        )
        self._fingerprint = ""  # computed once (a resume state carries it, per batch)

    def __len__(self) -> int:
        return len(self._sizes)

    def name(self, index: int) -> str:
        """Object name at ``index``."""
        start, end = self._offsets[index], self._offsets[index + 1]
        return self._names[start:end].decode()

    def size(self, index: int) -> int:
        """Object size at ``index`` (-1 when the listing did not say)."""
        return self._sizes[index]

    def bucket(self, index: int) -> Bucket:
        """Bucket of the object at ``index``."""
        return self.buckets[self._bucket_ids[index]]

    def ref(self, index: int) -> ObjectRef:
        """:class:`ObjectRef` of the object at ``index``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} objects")
        index %= len(self)
        return ObjectRef(self.buckets[self._bucket_ids[index]], self.name(index))

    def __iter__(self) -> Iterator[ObjectRef]:
        return (self.ref(i) for i in range(len(self)))

    @property
    def total_bytes(self) -> int:
        """Sum of the known sizes."""
        return sum(s for s in self._sizes if s > 0)

    def fingerprint(self) -> str:
        """A short digest of the listing (buckets, names, sizes, order): two manifests with
        the same fingerprint list the same objects in the same order. Hashed once: the
        manifest is immutable, and every resume state (one per batch and worker under
        ``StatefulDataLoader``) carries it."""
        if not self._fingerprint:
            digest = xxhash.xxh3_64()
            digest.update(repr([(b.name, b.provider, b.namespace) for b in self.buckets]).encode())
            for part in (self._names, self._offsets, self._sizes, self._bucket_ids):
                digest.update(part if isinstance(part, bytes) else memoryview(part))
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def save(self, path: str | Path) -> None:
        """Write the manifest to ``path`` (msgpack), atomically."""
        saved = _Saved(
            buckets=[(b.name, b.provider, b.namespace) for b in self.buckets],
            names=self._names,
            offsets=self._offsets.tobytes(),
            sizes=self._sizes.tobytes(),
            bucket_ids=self._bucket_ids.tobytes(),
        )
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(msgspec.msgpack.encode(saved))
        tmp.replace(target)

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        """Read a manifest written by :meth:`save`.

        Raises:
            ValueError: the file is not a manifest.
        """
        try:
            saved = msgspec.msgpack.decode(Path(path).read_bytes(), type=_Saved)
        except msgspec.DecodeError as exc:
            raise ValueError(f"{path}: not an aisloader manifest: {exc}") from exc
        offsets, sizes, ids = array("Q"), array("q"), array("I")
        offsets.frombytes(saved.offsets)
        sizes.frombytes(saved.sizes)
        ids.frombytes(saved.bucket_ids)
        buckets = tuple(Bucket(n, p, ns) for n, p, ns in saved.buckets)
        return cls(buckets, saved.names, offsets, sizes, ids)

    def __reduce__(self) -> tuple[object, ...]:
        return (
            Manifest,
            (self.buckets, self._names, self._offsets, self._sizes, self._bucket_ids),
        )


class ManifestBuilder:
    """Accumulates entries into flat buffers; :meth:`build` freezes them."""

    def __init__(self) -> None:
        self._buckets: dict[Bucket, int] = {}
        self._parts: list[bytes] = []
        self._offsets = array("Q", [0])
        self._sizes = array("q")
        self._ids = array("I")

    def add(self, bucket: Bucket, name: str, size: int = -1) -> None:
        """Append one object."""
        bucket_id = self._buckets.setdefault(bucket, len(self._buckets))
        encoded = name.encode()
        self._parts.append(encoded)
        self._offsets.append(self._offsets[-1] + len(encoded))
        self._sizes.append(size)
        self._ids.append(bucket_id)

    def __len__(self) -> int:
        return len(self._sizes)

    def build(self) -> Manifest:
        """Return the :class:`Manifest` of everything added so far."""
        return Manifest(
            tuple(self._buckets),
            b"".join(self._parts),
            array("Q", self._offsets),
            array("q", self._sizes),
            array("I", self._ids),
        )
