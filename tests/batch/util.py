"""Objects, archives and oracles shared by the get-batch tests."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterable

from _shared import FAST, fake_server  # noqa: F401  (re-exported for the tests)

from aisloader.core.batch import BatchEntry, BatchValue
from aisloader.server import LocalCluster

MEMBERS = {"s1.jpg": b"hello", "s1.cls": b"1", "sub/s2.jpg": b"world" * 300, "s2.cls": b"22"}


def blob(i: int, size: int = 700) -> bytes:
    """Unique, non-trivial bytes for object ``i`` (sizes vary across block boundaries)."""
    head = f"obj-{i:05d}:".encode()
    return (head * (size // len(head) + 1))[: size + i % 517]


def tar_of(members: dict[str, bytes], gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def put_objects(cluster: LocalCluster, bucket: str, n: int, prefix: str = "o/") -> list[str]:
    """Put ``n`` objects ``{prefix}{i:05d}`` holding ``blob(i)``; return their names."""
    names = [f"{prefix}{i:05d}" for i in range(n)]
    for i, name in enumerate(names):
        cluster.put_object(bucket, name, blob(i))
    return names


def as_bytes(pairs: Iterable[tuple[BatchEntry, BatchValue]]) -> list[bytes | str]:
    """Values as bytes, or ``"404"`` for a missing entry (for compact comparisons)."""
    return [v if isinstance(v, bytes) else "404" for _, v in pairs]
