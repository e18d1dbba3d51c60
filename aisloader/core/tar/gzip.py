"""gzip inflation for tar streams, bounded: at most :data:`INFLATE_STEP` bytes per step."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

__all__ = ["INFLATE_STEP", "Inflater"]

INFLATE_STEP = 1 << 20  # most bytes one inflate step may produce
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class Inflater:
    """gzip inflater for single- or multi-member streams (NUL padding between members ok)."""

    def __init__(self) -> None:
        self._zobj = zlib.decompressobj(_GZIP_WBITS)
        self._between = False  # the last member ended; a new one may start

    @property
    def complete(self) -> bool:
        """True when the input so far ends at a gzip member boundary."""
        return self._between

    def inflate(self, data: bytes) -> Iterator[bytes]:
        """Inflate ``data``, at most ``INFLATE_STEP`` bytes per piece yielded.

        Raises:
            ValueError: the data is not valid gzip.
        """
        try:
            yield from self._inflate(data)
        except zlib.error as exc:
            raise ValueError(f"bad gzip data: {exc}") from None

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        while True:
            if self._between:
                data = data.lstrip(b"\0")
                if not data:
                    return
                self._zobj, self._between = zlib.decompressobj(_GZIP_WBITS), False
            out = self._zobj.decompress(data, INFLATE_STEP)
            if out:
                yield out
            if self._zobj.eof:
                data, self._between = self._zobj.unused_data, True
                continue
            data = self._zobj.unconsumed_tail
            if not data and len(out) < INFLATE_STEP:
                return
