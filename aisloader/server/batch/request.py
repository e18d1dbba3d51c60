"""Get-batch request rules: parse and validate the body (AIS ``apc.MossReq``, protocol doc 6.2).

No I/O here. The proxy runs `parse_batch_req` on the body it receives; the designated target
reuses that result when the body the client re-sends is the same, and parses its own otherwise
(so a client that drops the body on the 307 gets a 400 from the target, as from AIS). Also the
per-entry rules the target applies while assembling: byte ranges and archive member names.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from aisloader.server.archive import archive_kind
from aisloader.server.errors import EmuError, clip
from aisloader.server.jsonbody import load_json
from aisloader.server.names import BucketId, check_object_name, parse_bucket

__all__ = [
    "CONTENT_TYPES",
    "BatchEntry",
    "BatchReq",
    "entry_name",
    "normalize_mime",
    "parse_batch_req",
    "parse_coloc",
    "resolve_range",
]

CONTENT_TYPES = {"tar": "application/x-tar", "tgz": "application/gzip", "zip": "application/zip"}
MAX_COLOC = 2
MISSING_DIR = "__404__"
_MIME_NEEDLES = (("tar.gz", "tgz"), ("tgz", "tgz"), ("gzip", "tgz"), ("zip", "zip"), ("tar", "tar"))


@dataclass(frozen=True)
class BatchEntry:
    """One ``in[i]`` (AIS ``apc.MossIn``): the object, archive member or byte range to send."""

    bucket: BucketId
    objname: str
    archpath: str = ""
    opaque: str = ""  # standard base64, as echoed in the answer (MossOut)
    start: int = 0
    length: int = 0


@dataclass(frozen=True)
class BatchReq:
    """A validated get-batch request (AIS ``apc.MossReq``).

    ``kind`` is ``"tar"``, ``"tgz"`` or ``"zip"``.
    """

    entries: tuple[BatchEntry, ...]
    kind: str = "tar"
    coer: bool = False
    onob: bool = False
    strm: bool = False
    coloc: int = 0


def normalize_mime(mime: str) -> str:
    """Map a ``mime`` value to an output kind by substring, as AIS does.

    Raises:
        EmuError: 501 for ``.tar.lz4`` (not implemented here), 400 for an unknown format.
    """
    m = mime.strip().lower()
    if "lz4" in m:
        raise EmuError(501, f'get-batch output format "{mime}" is not implemented', "ErrNotImpl")
    if not m:
        return "tar"
    for needle, kind in _MIME_NEEDLES:
        if needle in m:
            return kind
    raise EmuError(400, f'invalid get-batch output format "{mime}" (expected .tar, .tgz, .zip)')


def parse_coloc(value: str) -> int:
    """The ``coloc`` query value (empty means 0), read as Go's ``strconv.ParseUint`` does:
    ASCII digits only (``str.isdigit`` also accepts ``"١"`` and ``"²"``), leading zeros allowed.

    Raises:
        EmuError: 400 when it is not an integer in ``0..2``.
    """
    if not value:
        return 0
    digits = value.lstrip("0") or "0"
    if not (value.isascii() and value.isdigit()) or len(digits) > 1 or int(digits) > MAX_COLOC:
        msg = f'invalid get-batch colocation "coloc={clip(value)}" (expected 0, 1 or 2)'
        raise EmuError(400, msg)
    return int(digits)


def _bad(msg: str) -> EmuError:
    return EmuError(400, f"invalid get-batch request: {msg}")


def _field(d: dict[str, Any], key: str, typ: type, default: Any, where: str) -> Any:
    value = d.get(key, default)
    if value is None:
        return default
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise _bad(f'{where}"{key}" must be {typ.__name__}, got {type(value).__name__}')
    return value


def parse_batch_req(raw: bytes, default: BucketId | None) -> BatchReq:
    """Parse and validate a get-batch (``apc.MossReq``) JSON body.

    Args:
        raw: the request body.
        default: the bucket named in the URL path, if any.

    Raises:
        EmuError: 400 for bad JSON, an empty ``in``, bad field types or names, an entry
            without a bucket, or ``archpath`` on a non-archive; 416 for an invalid range;
            501 for ``.tar.lz4``.
    """
    msg = load_json(raw, "get-batch request") if raw.strip() else None
    if not isinstance(msg, dict):
        raise _bad('expected a JSON object body with a non-empty list "in"')
    items = msg.get("in")
    if not isinstance(items, list) or not items:
        raise _bad('"in" must be a non-empty list of entries')
    coloc = _field(msg, "coloc", int, 0, "")
    if not 0 <= coloc <= MAX_COLOC:
        raise _bad(f'"coloc" must be 0, 1 or 2, got {coloc}')
    buckets: dict[tuple[str, str], BucketId] = {}
    return BatchReq(
        entries=tuple(_parse_entry(i, x, default, buckets) for i, x in enumerate(items)),
        kind=normalize_mime(_field(msg, "mime", str, "", "")),
        coer=_field(msg, "coer", bool, False, ""),
        onob=_field(msg, "onob", bool, False, ""),
        strm=_field(msg, "strm", bool, False, ""),
        coloc=coloc,
    )


def _parse_entry(
    i: int, item: Any, default: BucketId | None, buckets: dict[tuple[str, str], BucketId]
) -> BatchEntry:
    if not isinstance(item, dict):
        raise _bad(f"in[{i}] must be a JSON object")
    where = f"in[{i}]."
    objname = _field(item, "objname", str, "", where)
    bname = _field(item, "bucket", str, "", where)
    provider = _field(item, "provider", str, "", where)
    _field(item, "uname", str, "", where)  # accepted and ignored (bucket/objname are used)
    if bname:
        bucket = buckets.get((bname, provider)) or _remember(buckets, bname, provider)
    elif default is not None:
        bucket = default
    else:
        raise _bad(f'{where}bucket is missing and the URL names no default bucket ("{objname}")')
    check_object_name(bucket, objname)
    archpath = _field(item, "archpath", str, "", where)
    if archpath and not archive_kind(objname):
        raise _bad(f"{bucket.display}/{objname} is not an archive (.tar, .tgz, .zip)")
    start = _field(item, "start", int, 0, where)
    length = _field(item, "length", int, 0, where)
    if start < 0 or length < -1 or (start and not length):
        raise EmuError(
            416,
            f"{bucket.display}/{objname}: invalid get-batch range start={start} length={length}",
            "ErrRangeNotSatisfiable",
        )
    return BatchEntry(bucket, objname, archpath, _opaque(item, where), start, length)


def _remember(buckets: dict[tuple[str, str], BucketId], name: str, provider: str) -> BucketId:
    """Parse a bucket once per request (entries usually repeat it)."""
    buckets[name, provider] = b = parse_bucket(name, provider)
    return b


def _opaque(item: dict[str, Any], where: str) -> str:
    text = _field(item, "opaque", str, "", where)
    if not text:
        return ""
    try:
        return base64.b64encode(base64.b64decode(text, validate=True)).decode()
    except (binascii.Error, ValueError):
        raise _bad(f'{where}"opaque" is not standard base64') from None


def resolve_range(e: BatchEntry, size: int, what: str) -> tuple[int, int]:
    """``(offset, count)`` of entry ``e`` within content of ``size`` bytes.

    Raises:
        EmuError: 416 when the range does not fit the content.
    """
    if e.length == 0:
        return 0, size
    if e.length < 0:  # from start to the end: start must fall inside (or be 0)
        count, ok = size - e.start, e.start == 0 or e.start < size
    else:
        count, ok = e.length, e.start + e.length <= size
    if not ok:
        raise EmuError(
            416,
            f"{what}: range start={e.start} length={e.length} is out of bounds (size {size})",
            "ErrRangeNotSatisfiable",
        )
    return e.start, count


def entry_name(e: BatchEntry, onob: bool, missing: bool = False) -> str:
    """The archive member name: ``[__404__/]{bucket}/{objname}[/{archpath}]`` (no bucket: onob)."""
    name = e.objname if onob else f"{e.bucket.name}/{e.objname}"
    if e.archpath:
        name += e.archpath if e.archpath.startswith("/") else "/" + e.archpath
    return f"{MISSING_DIR}/{name}" if missing else name
