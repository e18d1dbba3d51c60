"""The text codec of the error tree (pure): fields written into one readable line, read back.

See :mod:`aisloader.errors` ("Round trips: the message is the record") for why an error's
message must carry its fields; this module holds the rules that write and read them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["QUOTED", "get", "parse", "put"]

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
