"""Build small .tar / .tgz / .zip archives in memory for the archive tests."""

from __future__ import annotations

import io
import tarfile
import zipfile

MEMBERS = {"s1.jpg": b"hello", "s1.cls": b"1", "sub/s2.jpg": b"world", "s2.cls": b"22"}


def make_tar(members: dict[str, bytes], gz: bool = False) -> bytes:
    """A tar (gzip-compressed when ``gz``) with ``members`` plus a directory entry."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        d = tarfile.TarInfo("sub")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
        for name, data in members.items():
            ti = tarfile.TarInfo("./" + name if name == "s2.cls" else name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    """A zip with ``members`` plus a directory entry."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("sub/", b"")
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()
