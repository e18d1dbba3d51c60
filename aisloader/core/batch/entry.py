"""Get-batch entries: what one item of a request names, and how its answer is checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aisloader.errors import ConfigError, DataError, ObjectNotFound
from aisloader.refs import ObjectRef, RefLike, as_ref

__all__ = ["FORMATS", "BatchEntry", "BatchValue", "OutputFormat", "entry_value"]

OutputFormat = Literal[".tar", ".tgz", ".tar.gz", ".zip"]
FORMATS = (".tar", ".tgz", ".tar.gz", ".zip")
_MISSING = "__404__/"


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One item of a get-batch request.

    Attributes:
        ref: the object (or the shard holding ``archpath``).
        archpath: a member of the archive object to return instead of the object.
        start: first byte of a range (with ``length``).
        length: bytes of the range; 0 with start 0 = whole; -1 = from ``start`` to the end.

    Raises:
        ConfigError: a namespaced bucket (not addressable by get-batch here), or a range the
            cluster rejects anyway (negative start, ``length < -1``, start > 0 with length 0).
    """

    ref: ObjectRef
    archpath: str = ""
    start: int = 0
    length: int = 0

    def __post_init__(self) -> None:
        if self.start < 0 or self.length < -1 or (self.start and not self.length):
            raise ConfigError(
                f"bad get-batch range start={self.start} length={self.length} for "
                f"{self.ref.uri}: use length > 0, or -1 for 'to the end'"
            )
        if self.ref.bucket.namespace:
            raise ConfigError(f"get-batch entries cannot name namespaced buckets: {self.ref.uri}")

    @classmethod
    def of(cls, item: BatchEntry | RefLike) -> BatchEntry:
        """Accept an entry, an ``ais://`` URL, an :class:`ObjectRef` or a (bucket, name) pair.

        Raises:
            ConfigError: a malformed reference.
        """
        if isinstance(item, BatchEntry):
            return item
        try:
            return cls(as_ref(item))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def member_name(self) -> str:
        """The archive member name the cluster uses for this entry."""
        name = f"{self.ref.bucket.name}/{self.ref.name}"
        if not self.archpath:
            return name
        return name + (self.archpath if self.archpath.startswith("/") else "/" + self.archpath)

    @property
    def uri(self) -> str:
        """``ais://bucket/object[?archpath=…]`` for messages."""
        return self.ref.uri + (f"?archpath={self.archpath}" if self.archpath else "")

    def wire(self) -> dict[str, object]:
        """The MossIn JSON of this entry."""
        out: dict[str, object] = {
            "objname": self.ref.name,
            "bucket": self.ref.bucket.name,
            "provider": self.ref.bucket.provider,
        }
        if self.archpath:
            out["archpath"] = self.archpath
        if self.start or self.length:
            out["start"], out["length"] = self.start, self.length
        return out


BatchValue = bytes | ObjectNotFound
"""Data of an entry, or the typed error of a missing entry (``continue_on_error=True``)."""


def entry_value(entry: BatchEntry, name: str, data: bytes) -> BatchValue:
    """The value of ``entry`` from the answer's member ``name``: its bytes, or the typed error
    of a ``__404__/`` placeholder.

    Raises:
        DataError: the member is not the one the request asked for at this position.
    """
    expected = entry.member_name
    if name == expected:
        return data
    if name == _MISSING + expected and not data:
        return ObjectNotFound(404, "ErrNotFound", entry.uri, "missing in the get-batch answer")
    raise DataError(
        f"get-batch answered member {name!r} where {expected!r} ({entry.uri}) was expected"
    )
