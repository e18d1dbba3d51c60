"""Archives and oracles of the get-batch tests (objects and tars come from ``tests/_shared.py``)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable

from aisloader.core.batch.entry import BatchEntry, BatchValue

MEMBERS = {"s1.jpg": b"hello", "s1.cls": b"1", "sub/s2.jpg": b"world" * 300, "s2.cls": b"22"}


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def as_bytes(pairs: Iterable[tuple[BatchEntry, BatchValue]]) -> list[bytes | str]:
    """Values as bytes, or ``"404"`` for a missing entry (for compact comparisons)."""
    return [v if isinstance(v, bytes) else "404" for _, v in pairs]
