"""Client-side checksum verification of full-object GETs (protocol doc 9.7).

``xxhash``/``xxhash2`` are XXH64 with seed 0 (hex), plus md5, sha256 and sha512. Other types
(crc32c, none) are not verified: no extra dependency just for that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Protocol

import xxhash

from aisloader.errors import ChecksumMismatch

__all__ = ["Verifier", "supported"]


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


_FACTORIES: dict[str, Callable[[], _Hash]] = {
    "xxhash": xxhash.xxh64,
    "xxhash2": xxhash.xxh64,
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
