"""Object handles with the surface of the SDK's ``Object``, for code written for the plugin.

``aistore.pytorch`` datasets expose their listing as SDK ``Object`` instances
(``get_obj_list()``, ``self._obj_list``, the items of ``_get_worker_iter_info()``), and user
subclasses read them as ``obj.name``, ``obj.props.size`` / ``obj.props_cached.size`` and
``obj.get_reader().read_all()``. :class:`ObjectHandle` offers exactly that over a manifest
entry (no SDK objects, no per-object memory: handles are made on access), reading through the
dataset's connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from aisloader.core.listing.manifest import Manifest, ManifestBuilder
from aisloader.errors import ConfigError
from aisloader.etl import Etl
from aisloader.refs import Bucket, ObjectRef
from aisloader.torch._conn import TorchConn

__all__ = ["ObjectHandle", "ObjectHandles", "manifest_of"]


@dataclass(frozen=True, slots=True)
class Props:
    """The listed properties of an object (``size`` is -1 for explicit name lists)."""

    name: str
    size: int


class Reader:
    """What ``get_reader()`` returns; ``read_all()`` reads the whole object."""

    __slots__ = ("_etl", "_handle")

    def __init__(self, handle: ObjectHandle, etl: Etl | None) -> None:
        self._handle, self._etl = handle, etl

    def read_all(self) -> bytes:
        """The object's bytes (through the ETL, if any).

        Raises:
            ObjectNotFound, ETLNotFound, AISError, TransportError: as for a GET.
        """
        ref, etl = self._handle.ref, self._etl
        return self._handle.conn.call(lambda c: c.get(ref, etl=etl))

    def __iter__(self) -> Iterator[bytes]:
        yield self.read_all()


class ObjectHandle:
    """One listed object, readable like an SDK ``Object`` (see module docs)."""

    __slots__ = ("conn", "etl", "ref", "size")

    def __init__(self, conn: TorchConn, ref: ObjectRef, size: int, etl: Etl | None) -> None:
        self.conn, self.ref, self.size, self.etl = conn, ref, size, etl

    @property
    def name(self) -> str:
        """The object name."""
        return self.ref.name

    @property
    def bucket_name(self) -> str:
        """The bucket's name."""
        return self.ref.bucket.name

    @property
    def uri(self) -> str:
        """``ais://bucket/object``."""
        return self.ref.uri

    @property
    def props(self) -> Props:
        """Listed properties (``size``); objects listed by name are HEADed once for it, as
        the SDK does."""
        if self.size < 0:
            ref = self.ref
            self.size = self.conn.call(lambda c: c.head(ref)).size
        return Props(self.ref.name, self.size)

    props_cached = props

    def get_reader(self, etl: Any = None, **_: Any) -> Reader:
        """A reader of the whole object; ``etl`` (an SDK ``ETLConfig`` or a name) overrides the
        dataset's ETL. Other SDK reader options (archive config, byte ranges, direct) are
        accepted and ignored: use the aisloader API for those."""
        return Reader(self, Etl.of(etl) or self.etl)

    def __repr__(self) -> str:
        return f"ObjectHandle({self.ref.uri!r}, size={self.size})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectHandle) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)


class ObjectHandles(Sequence[ObjectHandle]):
    """The manifest seen as a list of :class:`ObjectHandle` (made on access)."""

    def __init__(self, manifest: Manifest, conn: TorchConn, etl: Etl | None) -> None:
        self._manifest, self._conn, self._etl = manifest, conn, etl

    def __len__(self) -> int:
        return len(self._manifest)

    @overload
    def __getitem__(self, index: int) -> ObjectHandle: ...

    @overload
    def __getitem__(self, index: slice) -> list[ObjectHandle]: ...

    def __getitem__(self, index: int | slice) -> ObjectHandle | list[ObjectHandle]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        ref = self._manifest.ref(index)
        size = self._manifest.size(index % len(self._manifest))
        return ObjectHandle(self._conn, ref, size, self._etl)


def manifest_of(objects: Sequence[Any]) -> Manifest:
    """A manifest of what a ``_create_objects_list`` override returned: our handles, or SDK
    ``Object`` instances (``bucket_name``, ``bucket_provider``, ``name``).

    Raises:
        ConfigError: an item that names no object.
    """
    builder = ManifestBuilder()
    for obj in objects:
        if isinstance(obj, ObjectHandle):
            builder.add(obj.ref.bucket, obj.ref.name, obj.size)
            continue
        name, bucket = getattr(obj, "name", None), getattr(obj, "bucket_name", None)
        if not isinstance(name, str) or not isinstance(bucket, str):
            raise ConfigError(f"_create_objects_list returned {obj!r}, which names no object")
        provider = getattr(obj, "bucket_provider", None) or "ais"
        builder.add(Bucket(bucket, str(getattr(provider, "value", provider))), name, -1)
    return builder.build()
