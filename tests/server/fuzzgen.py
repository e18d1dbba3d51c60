"""Hypothesis strategies for fuzzing the embedded cluster over HTTP (`test_server_fuzz`).

Raw URL pieces are already percent-encoded (sent with ``encoded=True``), so the server, not
the client library, decides what ``%2e%2e``, ``%2F`` or ``%00`` mean.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote as _quote

from hypothesis import strategies as st

BUCKET = "fz"
OBJECTS = {"a": b"alpha", "d/x": b"nested", "sh.tar": b"not really a tar" * 40}
RAW_SEGMENTS = [
    "",
    ".",
    "..",
    "%2e%2e",
    "%2E%2e",
    ".%2e",
    "%2F",
    "%2f..%2f",
    "%00",
    "a%00b",
    "%",
    "%zz",
    "%ED%A0%80",
    "%FF",
    "~",
    "x" * 300,
    "%C3%A9" * 130,
    "%E2%80%AE",
    "a%20b",
    ";",
    "sh.tar",
    "a",
    "d",
]
LONG = ["x" * 256, "d/" + "%C3%A9" * 128, "y" * 255]  # one byte over NAME_MAX, and at it
KEYS = ["provider", "namespace", "archpath", "archregx", "archmode", "etl_name", "etl_args"]
KEYS += ["props", "coloc", "pid", "utm", "tid", "what", "uuid", "append_type", "zz"]
VALUES = ["", "ais", "s3", "bogus", "@#", "@a#b", "@", "x" * 5000, "9" * 5000, "\u0661"]
VALUES += ["\x00", "echo", "upper", "prefix", "md5", "a.tar", "name,size", "name,bogus", "1"]
JSON_ROUTES = [
    ("GET", f"/v1/buckets/{BUCKET}"),
    ("GET", "/v1/buckets/nope"),
    ("GET", "/v1/buckets"),
    ("POST", "/v1/buckets/new-one"),
    ("POST", f"/v1/buckets/{BUCKET}"),
    ("DELETE", "/v1/buckets/nope"),
    ("PUT", "/v1/_emu/faults"),
    ("GET", f"/v1/ml/moss/{BUCKET}"),
    ("GET", "/v1/ml/moss"),
    ("HEAD", f"/v1/buckets/{BUCKET}/x"),
]
BODY_KEYS = ["action", "value", "in", "objname", "bucket", "provider", "pagesize", "flags"]
BODY_KEYS += ["prefix", "continuation_token", "props", "uuid", "coloc", "start", "length"]
BODY_KEYS += ["archpath", "strm", "coer", "onob", "mime", "opaque", "faults", "seed"]
DEEP = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000]
RAW_BODIES = [b"", b"{", b"1e400", b"NaN", b"-Infinity", b"1" * 5000, b"\xff\xfe{}", *DEEP]
RAW_BODIES += [b'{"action":"list","value":{"pagesize":1e400}}', b'"\\ud800"', b"\x00"]


def quote(text: str) -> str:
    """Percent-encode everything but unreserved characters (lone surrogates too)."""
    return _quote(text.encode("utf-8", "surrogatepass"), safe="")


def odd_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Short text from every Unicode category, surrogates and NUL included."""
    return st.text(st.characters(codec=None), max_size=max_size)


def segments() -> st.SearchStrategy[str]:
    """One raw (encoded) path segment: a known troublemaker or quoted random text."""
    return st.sampled_from(RAW_SEGMENTS) | odd_text().map(quote)


def object_paths() -> st.SearchStrategy[str]:
    """``/v1/objects/{bucket}/{name}`` with odd buckets and names (raw, encoded): half of
    them names a valid-looking path could carry (existing, new, too long), half anything."""
    buckets = st.sampled_from([BUCKET, BUCKET, BUCKET, "nope", "..", "%2e%2e", "", ".h", "b" * 70])
    plausible = st.sampled_from([*OBJECTS, *LONG, "new", "d/new", "a/b", "sh.tar/x"])
    names = plausible | st.lists(segments(), min_size=1, max_size=5).map("/".join)
    return st.tuples(buckets, names).map(lambda t: f"/v1/objects/{t[0]}/{t[1]}")


def colocs() -> st.SearchStrategy[str]:
    """``coloc`` values: valid, out of range, not ASCII digits, huge."""
    return st.sampled_from(["0", "1", "2", "02", "3", "-1", "١", "²", "1" * 5000]) | (odd_text(4))


def any_paths() -> st.SearchStrategy[str]:
    """Any path under ``/v1`` (the fuzzed bucket's name never a segment of its own)."""
    known = st.sampled_from(["objects", "buckets", "ml", "moss", "daemon", "cluster", "_emu"])
    seg = known | st.sampled_from(["health", "faults", "nope"]) | segments()
    seg = seg.filter(lambda s: s != BUCKET)
    return st.lists(seg, max_size=6).map(lambda parts: "/v1/" + "/".join(parts))


def queries() -> st.SearchStrategy[str]:
    """``""`` or ``?k=v&...`` with known, unknown and repeated keys and odd values."""
    key = st.sampled_from(KEYS) | odd_text(12)
    value = st.sampled_from(VALUES) | odd_text()
    pairs = st.lists(st.tuples(key, value), max_size=5)
    return pairs.map(_query)


def _query(pairs: list[tuple[str, str]]) -> str:
    return "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs) if pairs else ""


def ranges() -> st.SearchStrategy[str]:
    """``Range`` header values: valid, multi-part, negative, huge, non-ASCII digits."""
    num = st.sampled_from(["", "0", "1", "4", "-1", "9" * 19, "9" * 5000, "00", "\u0661"])
    num |= st.integers(-10, 2**70).map(str)
    rng = st.tuples(num, num).map(lambda t: f"bytes={t[0]}-{t[1]}")
    odd = st.text(st.characters(exclude_characters="\r\n\x00", codec="latin-1"), max_size=30)
    return rng | st.sampled_from(["bytes=0-1,2-3", "bytes=", "items=0-1", "bytes=\xb2-"]) | odd


def json_values() -> st.SearchStrategy[Any]:
    """JSON values with the keys the routes read, odd numbers and strings, nested."""
    leaf = (
        st.none()
        | st.booleans()
        | st.integers(-(2**70), 2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | odd_text()
        | st.sampled_from(["list", "destroy-bck", ".tar", ".zip", ".tar.lz4", "a", "d/x"])
    )
    return st.recursive(
        leaf,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(BODY_KEYS) | odd_text(8), inner, max_size=5)
        ),
        max_leaves=20,
    )


def bodies() -> st.SearchStrategy[bytes]:
    """Request bodies: raw troublemakers, random bytes, or JSON (surrogates escaped)."""
    as_json = json_values().map(lambda v: json.dumps(v).encode())
    return st.sampled_from(RAW_BODIES) | st.binary(max_size=64) | as_json


def store_names() -> st.SearchStrategy[str]:
    """Decoded object names for `Store.object_path`: traversal, links, NUL, long, unicode."""
    part = st.sampled_from(["..", ".", "", "a", "link", "x" * 256, "\x00", "\ud800", "~", "é"])
    return st.lists(part | odd_text(12), min_size=1, max_size=6).map("/".join) | odd_text()


def batch_requests() -> st.SearchStrategy[dict[str, Any]]:
    """Get-batch bodies shaped like ``apc.MossReq`` with fuzzed entries and fields."""
    names = st.sampled_from([*OBJECTS, "missing", "d", "sh.tar/x"]) | st.lists(
        st.sampled_from(["..", ".", "", "a", "x" * 300, "\x00", "\ud800", "é"]) | odd_text(),
        min_size=1,
        max_size=4,
    ).map("/".join)
    ints = st.sampled_from([0, 1, -1, -2, 2**63, 2**70]) | st.integers(-5, 100)
    entry = st.fixed_dictionaries(
        {"objname": names},
        optional={
            "bucket": st.sampled_from([BUCKET, "nope", "..", "", "b" * 70]),
            "provider": st.sampled_from(["ais", "s3", "zz"]),
            "start": ints,
            "length": ints,
            "archpath": st.sampled_from(["x", "../x", "/x"]) | odd_text(),
            "opaque": st.sampled_from(["AAAA", "+/8=", "!!"]) | odd_text(8),
            "uname": odd_text(8),
        },
    )
    flags = st.booleans() | st.sampled_from([0, "true", None])
    return st.fixed_dictionaries(
        {"in": st.lists(entry, max_size=4)},
        optional={
            "strm": flags,
            "coer": flags,
            "onob": flags,
            "mime": st.sampled_from([".tar", ".tgz", ".zip", ".tar.lz4", "x"]) | odd_text(8),
            "coloc": ints,
        },
    )
