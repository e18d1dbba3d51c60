"""Client-side checksum verification of full-object GETs (protocol doc 9.7).

``xxhash``/``xxhash2`` are XXH64 with seed 0 (hex), ``crc32c`` is CRC-32C (Castagnoli) as 8
lower-case hex digits of the big-endian value (``google-crc32c``), plus md5, sha256 and sha512.
``none`` (or no header) is not verified. The type is matched case-insensitively.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Protocol

import google_crc32c
import xxhash

from aisloader.errors import ChecksumMismatch

__all__ = ["Verifier", "supported"]


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class _Crc32c:
    """Streaming CRC-32C; ``hexdigest()`` is 8 lower-case hex digits (big-endian value)."""

    __slots__ = ("_crc",)

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes, /) -> None:
        self._crc = int(google_crc32c.extend(self._crc, data))

    def hexdigest(self) -> str:
        return f"{self._crc:08x}"


_FACTORIES: dict[str, Callable[[], _Hash]] = {
    "xxhash": xxhash.xxh64,
    "xxhash2": xxhash.xxh64,
    "crc32c": _Crc32c,
    "md5": hashlib.md5,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


def supported(kind: str) -> bool:
    """Whether ``kind`` (an ``Ais-Checksum-Type`` value) is verified."""
    return kind.lower() in _FACTORIES


class Verifier:
    """Hashes a body as it streams and compares it with the cluster's value at the end."""

    def __init__(self, kind: str, expected: str) -> None:
        self.kind = kind.lower()
        self.expected = expected.lower()
        self._hash = _FACTORIES[self.kind]()

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Verifier | None:
        """A verifier for the ``Ais-Checksum-*`` headers, or None if there is nothing to check."""
        kind = headers.get("Ais-Checksum-Type", "")
        value = headers.get("Ais-Checksum-Value", "")
        if not value or not supported(kind):
            return None
        return cls(kind, value)

    def update(self, chunk: bytes) -> None:
        """Hash the next chunk."""
        self._hash.update(chunk)

    def check(self, uri: str) -> None:
        """Compare with the expected value.

        Raises:
            ChecksumMismatch: the bytes do not match (names ``uri``).
        """
        got = self._hash.hexdigest()
        if got != self.expected:
            raise ChecksumMismatch(
                f"{uri}: {self.kind} checksum mismatch: cluster says {self.expected}, "
                f"received bytes give {got}. Re-read the object; if it persists, it is corrupt."
            )
