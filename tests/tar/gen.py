"""Helpers for the tar tests: build shards with stdlib tarfile, chunk them, read the oracle."""

from __future__ import annotations

import io
import random
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from hypothesis import strategies as st

from aisloader.core.tar.members import TarMember, TarStreamParser

_Format = Literal[0, 1, 2]  # what TarInfo.tobuf accepts
FORMATS = (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT)
_SEGMENT = st.text(
    alphabet=st.sampled_from("abcXYZ019_-. é中ü\udcff"), min_size=1, max_size=12
).filter(lambda s: s not in (".", ".."))
_LONG_SEGMENT = st.integers(90, 160).map(lambda n: "L" * n)


@dataclass
class Spec:
    """One member to write: kind is 'file', 'dir', 'symlink', 'hardlink' or 'fifo'."""

    name: str
    kind: str = "file"
    size: int = 0
    seed: int = 0
    link: str = ""
    pax: dict[str, str] = field(default_factory=dict)


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@st.composite
def names(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(_SEGMENT, _LONG_SEGMENT), min_size=1, max_size=3))
    name = "/".join(parts)
    if draw(st.booleans()):
        name += "." + draw(st.sampled_from(["txt", "JPG", "seg.png", "tar.gz", "Cls"]))
    return name


SIZES = st.one_of(st.integers(0, 1100), st.integers(0, 200_000), st.sampled_from([0, 511, 512]))


@st.composite
def specs(draw: st.DrawFn, fmt: int) -> list[Spec]:
    out = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["file"] * 6 + ["dir", "symlink", "hardlink", "fifo"]))
        spec = Spec(draw(names()), kind, seed=draw(st.integers(0, 2**32)))
        if kind == "file":
            spec.size = draw(SIZES)
        if kind == "dir" and draw(st.booleans()):
            spec.name += "/"
        if kind in ("symlink", "hardlink"):
            spec.link = draw(names())
        if fmt == tarfile.PAX_FORMAT and draw(st.booleans()):
            spec.pax = {"comment": draw(st.text(max_size=20)), "aisloader.x": "1"}
        out.append(spec)
    return out


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def build(
    members: Sequence[Spec], fmt: int = tarfile.PAX_FORMAT, global_pax: dict[str, str] | None = None
) -> bytes:
    """A tar of ``members``; members tarfile cannot store in ``fmt`` are left out."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, pax_headers=global_pax) as tar:
        for spec in members:
            info = tarfile.TarInfo(spec.name)
            info.type, info.linkname, info.mtime = _TYPES[spec.kind], spec.link, 1_700_000_000
            info.pax_headers = dict(spec.pax)
            data = payload(spec.size, spec.seed) if spec.kind == "file" else b""
            info.size = len(data)
            try:
                info.tobuf(cast(_Format, fmt), tar.encoding, tar.errors)
            except ValueError:  # e.g. a name too long for ustar
                continue
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def oracle(blob: bytes) -> list[tuple[str, int, bytes, str, int, str]]:
    """What ``tarfile`` stream mode reports for ``blob``."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r|*") as tar:
        for info in tar:
            data = b""
            if info.isreg():
                extracted = tar.extractfile(info)
                assert extracted is not None
                data = extracted.read()
            kind = "file" if info.isreg() else "dir" if info.isdir() else "other"
            kind = "symlink" if info.issym() else kind
            out.append((info.name, info.size, data, kind, info.offset, info.linkname))
    return out


def as_tuples(members: Sequence[TarMember]) -> list[tuple[str, int, bytes, str, int, str]]:
    return [(m.name, m.size, m.data, m.type, m.offset, m.linkname) for m in members]


def chunks(blob: bytes, sizes: Sequence[int]) -> Iterator[bytes]:
    """``blob`` cut into pieces of the given sizes, cycled (at most ~4000 pieces)."""
    floor = max(1, len(blob) // 4000)
    pos, i = 0, 0
    while pos < len(blob):
        step = max(floor, sizes[i % len(sizes)])
        yield blob[pos : pos + step]
        pos, i = pos + step, i + 1


def parse(blob: bytes, sizes: Sequence[int] = (1 << 16,), **kw: object) -> list[TarMember]:
    """Feed ``blob`` to a parser in chunks and close it."""
    kw.setdefault("max_member_size", 1 << 24)
    parser = TarStreamParser(shard="ais://b/s.tar", **kw)  # type: ignore[arg-type]
    out: list[TarMember] = []
    for chunk in chunks(blob, sizes):
        out += parser.feed(chunk)
    return out + parser.close()
