"""Hand-made tar blocks for cases tarfile will not write (base-256, V7 dirs, odd chains)."""

from __future__ import annotations


def header(
    name: str | bytes,
    size: int = 0,
    type_flag: bytes = b"0",
    *,
    link: str = "",
    prefix: str = "",
    size_field: bytes | None = None,
    extra: dict[int, bytes] | None = None,
) -> bytes:
    """A 512-byte ustar header with a correct checksum."""
    raw = name.encode() if isinstance(name, str) else name
    buf = bytearray(512)
    buf[0 : len(raw)] = raw
    buf[100:108] = b"0000644\0"
    buf[108:116] = buf[116:124] = b"0000000\0"
    buf[124:136] = size_field if size_field is not None else b"%011o\0" % size
    buf[136:148] = b"14620277140\0"
    buf[156:157] = type_flag
    buf[157 : 157 + len(link)] = link.encode()
    buf[257:265] = b"ustar\x0000"
    buf[345 : 345 + len(prefix)] = prefix.encode()
    for pos, value in (extra or {}).items():
        buf[pos : pos + len(value)] = value
    return with_checksum(bytes(buf))


def with_checksum(buf: bytes) -> bytes:
    """``buf`` with its checksum field recomputed."""
    total = 256 + sum(buf[:148]) + sum(buf[156:])
    return buf[:148] + b"%06o\0 " % total + buf[156:]


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def pax_payload(records: dict[str, str]) -> bytes:
    out = b""
    for key, value in records.items():
        body = f" {key}={value}\n".encode()
        length = len(body) + 1
        while len(str(length)) + len(body) != length:
            length += 1
        out += str(length).encode() + body
    return out


def member(name: str | bytes, data: bytes = b"", type_flag: bytes = b"0", **kw: object) -> bytes:
    return header(name, len(data), type_flag, **kw) + padded(data)  # type: ignore[arg-type]


def extension(type_flag: bytes, payload: bytes, name: str = "././@LongLink") -> bytes:
    return header(name, len(payload), type_flag) + padded(payload)


END = bytes(1024)
