"""Tar format rules for :mod:`aisloader.core.tar.members`: member type, fields, PAX records, gzip.

Decoding follows what stdlib ``tarfile`` does on the same bytes (names are UTF-8 with
``surrogateescape``), so our member names equal ``tarfile``'s. Every function here raises
``ValueError`` with a short reason; the parser turns it into a ``ShardFormatError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from struct import Struct
from typing import Literal
from zlib import adler32

__all__ = [
    "BLOCK",
    "Compression",
    "Extensions",
    "Header",
    "MemberType",
    "TarMember",
    "apply_pax",
    "decode_header",
    "file_member",
    "header_sum",
    "nts",
    "pax_records",
    "plain_file",
    "rounded",
]

BLOCK = 512
_HIGH_BYTES = bytes(range(128, 256))
_PAX_LENGTH = re.compile(rb"([0-9]{1,20}) ")
# name, size digits, size NUL, checksum digits, checksum NUL, type, 1st byte of link, of prefix
_PLAIN = Struct("100s24x11sB12x6sBxBB187xB")

MemberType = Literal["file", "dir", "symlink", "other"]
Compression = Literal["auto", "none", "gzip"]


@dataclass(frozen=True, slots=True)
class TarMember:
    """One archive member.

    Attributes:
        name: member path, decoded like ``tarfile`` (UTF-8, ``surrogateescape``).
        size: size in bytes as ``tarfile`` reports it (``len(data)`` for files).
        data: the member's bytes (``b""`` for anything but a regular file).
        type: ``"file"``, ``"dir"``, ``"symlink"`` or ``"other"`` (links, devices, sparse...).
        offset: byte offset of the member's first header in the uncompressed stream.
        linkname: link target for links, else ``""``.
    """

    name: str
    size: int
    data: bytes = field(repr=False)
    type: MemberType
    offset: int
    linkname: str = ""

    @property
    def is_file(self) -> bool:
        """True for a regular file."""
        return self.type == "file"


_new = object.__new__
# The slot descriptors: setting through them skips the frozen dataclass's __setattr__.
_SLOTS = tuple(TarMember.__dict__[name].__set__ for name in TarMember.__slots__)


def file_member(name: str, data: bytes, offset: int) -> TarMember:
    """``TarMember(name, len(data), data, "file", offset)``, built about twice as fast."""
    member = _new(TarMember)
    set_name, set_size, set_data, set_type, set_offset, set_link = _SLOTS
    set_name(member, name)
    set_size(member, len(data))
    set_data(member, data)
    set_type(member, "file")
    set_offset(member, offset)
    set_link(member, "")
    return member


@dataclass(frozen=True, slots=True)
class Header:
    """The fields of one 512-byte header the parser needs."""

    type: bytes
    name: str
    linkname: str
    size: int
    sparse_extended: bool = False  # old GNU sparse: more sparse-map blocks follow
    real_size: int = 0  # old GNU sparse: size of the rebuilt file


def rounded(size: int) -> int:
    """``size`` rounded up to whole blocks."""
    return -(-size // BLOCK) * BLOCK


def nts(field: bytes) -> str:
    """A NUL-terminated field as text (UTF-8, undecodable bytes kept as surrogates)."""
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _number(field: bytes) -> int:
    """An octal field, or a base-256 one (first byte 0x80 positive, 0xFF negative)."""
    if field[0] in (0x80, 0xFF):
        value = int.from_bytes(field[1:], "big")
        return value - 256 ** (len(field) - 1) if field[0] == 0xFF else value
    try:
        return int(field.split(b"\0", 1)[0].decode("ascii").strip() or "0", 8)
    except ValueError:
        raise ValueError(f"bad number field {bytes(field)!r}") from None


def header_sum(buf: bytes, pos: int = 0) -> int:
    """Unsigned sum of the header at ``buf[pos:pos + 512]``, its checksum field as 8 spaces."""
    # adler32's low half is 1 + the byte sum mod 65521, so exactly 1 + the sum for up to 256
    # bytes (at most 65280): low + high - field counts the 1 once, hence 256 - 1.
    low = adler32(buf[pos : pos + 256]) & 0xFFFF
    high = adler32(buf[pos + 256 : pos + 512]) & 0xFFFF
    return low + high - (adler32(buf[pos + 148 : pos + 156]) & 0xFFFF) + 255


def _checksum_ok(buf: bytes, checksum: int) -> bool:
    """The unsigned sum, or the signed-char one that old tars wrote, equals ``checksum``."""
    unsigned = header_sum(buf)
    if checksum == unsigned:
        return True
    rest = buf[:148] + buf[156:]
    high = len(rest) - len(rest.translate(None, _HIGH_BYTES))
    return checksum == unsigned - 256 * high


def decode_header(buf: bytes) -> Header:
    """Decode a non-zero 512-byte header.

    Raises:
        ValueError: bad checksum or number field.
    """
    if not _checksum_ok(buf, _number(buf[148:156])):
        raise ValueError("header checksum mismatch")
    type_flag = buf[156:157]
    name = nts(buf[:100])
    if type_flag == b"\0" and name.endswith("/"):  # old V7 directory
        type_flag = b"5"
    if type_flag == b"5":
        name = name.rstrip("/")
    prefix = nts(buf[345:500])
    if prefix and type_flag not in (b"L", b"K", b"S"):
        name = f"{prefix}/{name}"
    size = _number(buf[124:136])
    if type_flag != b"S":
        return Header(type_flag, name, nts(buf[157:257]), size)
    return Header(type_flag, name, nts(buf[157:257]), size, bool(buf[482]), _number(buf[483:495]))


def plain_file(buf: bytes, pos: int) -> tuple[str, int] | None:
    """Name and size of the header at ``buf[pos:pos + 512]`` if it is a plain regular file.

    The fast path for what shard writers emit: type ``0``/``7``/NUL, no prefix, no link
    name, octal size ``"%011o\\0"``, checksum ``"%06o\\0"`` that matches the unsigned sum, a
    name not ending in ``/``. For anything else (including a zero block and every error) it
    returns ``None`` and :func:`decode_header` decides. When it answers, :func:`decode_header`
    would give the same name and size.
    """
    name, size, nul, checksum, nul2, flag, link, prefix = _PLAIN.unpack_from(buf, pos)
    if nul or nul2 or link or prefix or (flag != 0x30 and flag and flag != 0x37):
        return None
    try:
        size, checksum = int(size, 8), int(checksum, 8)
    except ValueError:
        return None
    if size < 0:
        return None
    if header_sum(buf, pos) != checksum:
        return None
    name = name.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    return None if name.endswith("/") else (name, size)


def pax_records(data: bytes) -> dict[str, str]:
    """The ``"<len> <key>=<value>\\n"`` records of a PAX header (NUL padding may follow), in order.

    Framed strictly, as stdlib ``tarfile`` does since its fix of CVE-2024-6232 (3.11.10, 3.12.5):
    each record must end with its newline inside the payload and hold ``=`` after a non-empty
    key. The older loop, ``rb"(\\d+) ([^=]+)="``, let a key run past its record to the next
    ``=``: a payload of short records far from any ``=`` took quadratic time and memory.

    Raises:
        ValueError: a malformed record.
    """
    records: dict[str, str] = {}
    pos, end = 0, len(data)
    while pos < end and data[pos]:
        match = _PAX_LENGTH.match(data, pos)
        length = int(match[1]) if match else 0
        newline = pos + length - 1
        if match is None or length < 5 or newline >= end or data[newline] != 0x0A:
            raise ValueError(f"malformed record at {pos}")
        key, equals, value = data[match.end() : newline].partition(b"=")
        if not key or not equals:
            raise ValueError(f"record without 'key=' at {pos}")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def apply_pax(
    records: dict[str, str], name: str, link: str, size: int | None
) -> tuple[str, str, int | None]:
    """Apply PAX overrides in record order; ``size=None`` ignores size records.

    Raises:
        ValueError: a size record that is not an integer.
    """
    for key, value in records.items():
        if key == "path":
            name = value.rstrip("/")
        elif key == "GNU.sparse.name":
            name = value
        elif key == "linkpath":
            link = value
        elif key == "size" and size is not None:
            try:
                size = int(value)
            except ValueError:
                raise ValueError(f"bad size record {value!r}") from None
    return name, link, size


class Extensions:
    """GNU long names/links and PAX headers waiting for their member, plus PAX globals."""

    def __init__(self) -> None:
        self.pending: list[tuple[bytes, str | dict[str, str]]] = []
        self.globals: dict[str, str] = {}
        self._pending_bytes = self._global_bytes = 0

    @property
    def held(self) -> int:
        """Bytes held: the globals, plus the pending extensions (a block at least each, and a
        PAX one with its copy of the globals), for the parser to bound."""
        return self._pending_bytes + self._global_bytes

    def add(self, kind: bytes, data: bytes) -> None:
        """Record the payload of an ``L``, ``K``, ``x``/``X`` or ``g`` header.

        Raises:
            ValueError: a malformed PAX record.
        """
        if kind in (b"L", b"K"):
            self.pending.append((kind, nts(data)))
            self._pending_bytes += max(BLOCK, len(data))
        elif kind == b"g":
            self.globals.update(pax_records(data))
            self._global_bytes = sum(len(k) + len(v) for k, v in self.globals.items())
        else:  # like tarfile, a local header carries the globals known at this point
            self.pending.append((b"x", {**self.globals, **pax_records(data)}))
            self._pending_bytes += max(BLOCK, len(data)) + self._global_bytes

    def resolve(self, hdr: Header) -> tuple[str, str, int, bool]:
        """Name, link, size and sparseness of ``hdr`` after its extensions; clears them.

        tarfile applies the globals first, then the pending extensions innermost first, so
        the first extension header in the stream wins.

        Raises:
            ValueError: a PAX size that is not an integer.
        """
        name, link, _ = apply_pax(self.globals, hdr.name, hdr.linkname, None)
        size, is_dir, sparse = hdr.size, hdr.type == b"5", hdr.type == b"S"
        if is_dir:
            name = name.rstrip("/")
        pending, self.pending, self._pending_bytes = self.pending, [], 0
        for kind, value in reversed(pending):
            if isinstance(value, dict):
                name, link, new_size = apply_pax(value, name, link, size)
                size = size if new_size is None else new_size
                sparse = sparse or any(k.startswith("GNU.sparse.") for k in value)
            elif kind == b"L":
                name = value.removesuffix("/") if is_dir else value
            else:
                link = value
        return name, link, size, sparse
