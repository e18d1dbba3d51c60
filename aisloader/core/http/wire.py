"""Wire structs of the AIS REST API (msgspec), and the small pure parsers around them.

Pure: no I/O. msgpack list pages decode straight into :class:`LsoPage`; the smap and error
bodies are JSON. ``id_digest`` values can exceed 2**63 and decode as Python ints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = [
    "ARCH_DIR",
    "BucketEntry",
    "ErrBody",
    "LsoPage",
    "NetInfo",
    "ObjectEntry",
    "ObjectProps",
    "Smap",
    "Snode",
    "decode_error",
    "decode_smap",
    "lso_body",
    "props_from_headers",
]

ARCH_DIR = 1 << 3
"""List-objects flag: expand archives into their members (protocol doc 4.2)."""


class ObjectEntry(msgspec.Struct, frozen=True):
    """One list-objects entry (msgpack short keys; absent fields are empty/zero)."""

    name: str = msgspec.field(name="n")
    size: int = msgspec.field(default=0, name="s")
    checksum: str = msgspec.field(default="", name="cs")
    atime: str = msgspec.field(default="", name="a")
    version: str = msgspec.field(default="", name="v")
    flags: int = msgspec.field(default=0, name="f")


class LsoPage(msgspec.Struct, frozen=True):
    """One list-objects page (the PascalCase keys of the Go struct)."""

    uuid: str = msgspec.field(default="", name="UUID")
    token: str = msgspec.field(default="", name="ContinuationToken")
    entries: list[ObjectEntry] | None = msgspec.field(default=None, name="Entries")
    flags: int = msgspec.field(default=0, name="Flags")


class ErrBody(msgspec.Struct, frozen=True):
    """The AIS error body (``cmn.ErrHTTP``); unknown keys ignored."""

    message: str = ""
    tcode: str = ""
    status: int = 0


class NetInfo(msgspec.Struct, frozen=True):
    """One network of a node; only ``direct_url`` matters to a client."""

    direct_url: str = ""


class Snode(msgspec.Struct, frozen=True):
    """A node of the cluster map."""

    daemon_id: str
    daemon_type: str = ""
    public_net: NetInfo = NetInfo()
    flags: int = 0
    id_digest: int = 0


class Smap(msgspec.Struct, frozen=True):
    """The cluster map (``GET /v1/daemon?what=smap``); ``version`` is a JSON string."""

    tmap: dict[str, Snode] = {}
    pmap: dict[str, Snode] = {}
    uuid: str = ""
    version: str = "0"


class _Namespace(msgspec.Struct, frozen=True):
    uuid: str = ""
    name: str = ""


class BucketEntry(msgspec.Struct, frozen=True):
    """One entry of the list-buckets answer."""

    name: str
    provider: str = "ais"
    namespace: _Namespace = _Namespace()

    @property
    def ns(self) -> str:
        """The namespace as ``@uuid#name`` ('' for the global namespace)."""
        if not self.namespace.uuid and not self.namespace.name:
            return ""
        return f"@{self.namespace.uuid}#{self.namespace.name}"


class ObjectProps(msgspec.Struct, frozen=True):
    """Object properties from a HEAD (or GET) answer."""

    size: int
    checksum_type: str = ""
    checksum_value: str = ""
    atime: int = 0
    version: str = ""
    present: bool = True


_ERR_DECODER = msgspec.json.Decoder(ErrBody)
_SMAP_DECODER = msgspec.json.Decoder(Smap)
_ENCODER = msgspec.json.Encoder()


def decode_error(raw: bytes | str) -> ErrBody:
    """Parse an AIS error body or ``Hdr-Error`` value; non-JSON text becomes the message."""
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        return _ERR_DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ErrBody(message=data[:512].decode("utf-8", "replace").strip())


def decode_smap(raw: bytes) -> Smap:
    """Parse the cluster map JSON.

    Raises:
        msgspec.DecodeError: the body is not a cluster map (translated by the caller).
    """
    return _SMAP_DECODER.decode(raw)


def lso_body(prefix: str, props: str, page_size: int, flags: int, uuid: str, token: str) -> bytes:
    """The JSON ``ActMsg`` body of one list-objects request (protocol doc 4.1)."""
    value: dict[str, Any] = {
        "prefix": prefix,
        "pagesize": page_size,
        "uuid": uuid,
        "props": props,
        "continuation_token": token,
        "flags": str(flags),
        "target": "",
    }
    return _ENCODER.encode({"action": "list", "name": "", "value": value})


def action_body(action: str) -> bytes:
    """A bare ``{"action": ..., "name": "", "value": null}`` body."""
    return _ENCODER.encode({"action": action, "name": "", "value": None})


def props_from_headers(headers: Mapping[str, str], size: int) -> ObjectProps:
    """Object properties from ``Ais-*`` response headers."""
    atime = headers.get("Ais-Atime", "")
    return ObjectProps(
        size=size,
        checksum_type=headers.get("Ais-Checksum-Type", ""),
        checksum_value=headers.get("Ais-Checksum-Value", ""),
        atime=int(atime) if atime.isdigit() else 0,
        version=headers.get("Ais-Version", ""),
        present=headers.get("Ais-Present", "true").lower() == "true",
    )
