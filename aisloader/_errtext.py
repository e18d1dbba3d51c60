"""The text codec of the error tree (pure): fields written into one readable line, read back.

See :mod:`aisloader.errors` ("Round trips: the message is the record") for why an error's
message must carry its fields; this module holds the rules that write and read them: the
generic ones (:func:`put`, :func:`get`, :func:`parse`, and :func:`pack` / :func:`unpack` for a
structured field such as a skip report), then the one-line format of each error class with
fields (its pattern, its fields with their "unknown" values, and its renderer).
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "AIS_FIELDS",
    "PACKED",
    "QUOTED",
    "SHARD_FIELDS",
    "SHARD_LINE",
    "TRANSPORT_FIELDS",
    "TRANSPORT_LINE",
    "ais_line",
    "ais_text",
    "get",
    "net_text",
    "pack",
    "parse",
    "put",
    "shard_text",
    "unpack",
]

QUOTED = r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*\""""
"""A Python string literal on one line (how :func:`put` writes a value that could be misread)."""


def put(value: str, *stops: str) -> str:
    """``value`` in a one-line message: as it is unless it could be misread (module docs)."""
    plain = value.isprintable() and not value.startswith(("'", '"'))
    return value if plain and not any(stop in value for stop in stops) else repr(value)


def get(raw: str | None, default: Any) -> Any:
    """The field value that :func:`put` (or ``str()`` of an int) wrote as ``raw``."""
    if raw is None:
        return default
    if isinstance(default, int):
        return int(raw)
    return ast.literal_eval(raw) if raw.startswith(("'", '"')) else raw  # a str literal only


def _lines(cls: type, text: str) -> Iterator[str]:
    """Where a one-line rendering of ``cls`` may be in ``text``: the text itself, or the
    ``module.Class: <line>`` lines of a formatted traceback, last first."""
    if "\n" not in text:
        yield text
        return
    head = f"{cls.__module__}.{cls.__qualname__}: "
    if cls.__module__ in ("__main__", "builtins"):
        head = f"{cls.__qualname__}: "
    for line in reversed(text.splitlines()):
        if line.startswith(head) or line == head[:-2]:  # no ": " when str(exc) is empty
            yield line[len(head) :]


def parse(
    cls: type, text: str, pattern: str, fields: dict[str, Any], render: Callable[..., str]
) -> tuple[Any, ...] | None:
    """The fields of the last rendering of ``cls`` in ``text`` (module docs), or None."""
    for line in _lines(cls, text):
        match = re.fullmatch(pattern, line)
        try:
            values = tuple(get(match[k], d) for k, d in fields.items()) if match else None
        except (ValueError, SyntaxError):
            continue
        if values is not None and render(*values) == line:
            return values
    return None


PACKED = r"[!-~]*"
"""What :func:`pack` writes: base85 text (printable, no space, no quote, no brackets)."""

_UNPACKED_MAX = 16 << 20
"""The largest JSON text :func:`unpack` inflates (a bound, whatever the text holds)."""


def pack(value: Any) -> str:
    """``value`` (JSON-able) as compact one-line text: JSON, deflated, base85.

    Raises:
        TypeError, ValueError: ``value`` is not JSON-able.
    """
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.b85encode(zlib.compress(raw, 9)).decode("ascii")


def unpack(text: str) -> Any:
    """The value :func:`pack` wrote as ``text``.

    Raises:
        ValueError: ``text`` is not such a value (or inflates past a bound).
    """
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(base64.b85decode(text), _UNPACKED_MAX)
        if inflate.unconsumed_tail or not inflate.eof:
            raise ValueError("not a complete packed value within the size bound")
        return json.loads(raw)
    except (binascii.Error, zlib.error, UnicodeDecodeError) as exc:
        raise ValueError(f"not a packed value: {exc}") from None


# --- the one-line format of each error class with fields -----------------------------------
def ais_line(hint: str) -> str:
    """The pattern of an ``AISError`` line whose class gives ``hint``."""
    line = (
        rf"(?P<url>{QUOTED}|.*?): HTTP (?P<status>\d+)(?: \((?P<tcode>{QUOTED}|[^)]*)\))?"
        r"(?:: (?P<message>.*))?"
    )
    return line + (re.escape(f". {hint}") if hint else "")


AIS_FIELDS = {"status": 0, "tcode": "", "url": "", "message": ""}


def ais_text(status: int, tcode: str, url: str, message: str, hint: str) -> str:
    """The line of an ``AISError`` (``hint``: what its class tells the user to do)."""
    text = f"{put(url, ': HTTP ')}: HTTP {status}"
    text += f" ({put(tcode, ')')})" if tcode else ""
    text += f": {put(message)}" if message else ""
    return f"{text}. {hint}" if hint else text


_CORRUPT = ": corrupt or truncated archive"
_ADVICE = "Re-create the shard, or use the 'skip' error policy to skip bad shards."
SHARD_LINE = (
    rf"(?P<shard>{QUOTED}|.*?){_CORRUPT}(?: at byte (?P<offset>\d+))?(?:: (?P<reason>.*))?"
    + re.escape(f". {_ADVICE}")
)
SHARD_FIELDS = {"shard": "", "offset": -1, "reason": ""}


def shard_text(shard: str, offset: int, reason: str) -> str:
    """The line of a ``ShardFormatError``."""
    at = f" at byte {offset}" if offset >= 0 else ""
    why = f": {put(reason)}" if reason else ""
    return f"{put(shard, _CORRUPT)}{_CORRUPT}{at}{why}. {_ADVICE}"


TRANSPORT_LINE = rf"(?P<message>.*?)(?: \(attempt (?P<attempts>\d+) on (?P<url>{QUOTED}|[^()]*)\))?"
TRANSPORT_FIELDS = {"message": "", "url": "", "attempts": 0}


def net_text(message: str, url: str, attempts: int) -> str:
    """The line of a ``TransportError``."""
    text = put(message)
    return f"{text} (attempt {attempts} on {put(url, '(', ')')})" if url or attempts else text
