"""Marks on the samples that ``equal="pad"`` repeats (pure).

Under ``equal="pad"`` a rank whose share is one short reads the first items of the epoch's
order again, so that every rank takes the same number of steps. Those repeats are marked: the
object name of a ``(name, data)`` item is a :class:`PaddedName` (a ``str`` equal to the name,
so collate, logging and lookups work unchanged), a tuple of members (multi-shard) starts
with :class:`PaddedBytes`, and a WebDataset sample dict has ``"__padded__": True``.
:func:`is_padding` tells a repeat from a first read — mask it out of a loss or a metric, or do
not record it in a :class:`~aisloader.ledger.Ledger`::

    for names, data in loader:
        keep = [not is_padding(n) for n in names]
"""

from __future__ import annotations

from typing import Any

__all__ = ["PaddedBytes", "PaddedName", "is_padding", "mark"]


class PaddedName(str):
    """An object name read again only to pad a rank's share (equal to the name)."""

    __slots__ = ()


class PaddedBytes(bytes):
    """A member read again only to pad a rank's share (equal to the bytes)."""

    __slots__ = ()


def mark(item: Any) -> Any:
    """``item`` (``(name, data)`` or a tuple of members) marked as a padding repeat."""
    first, *rest = item
    if isinstance(first, str):
        return (PaddedName(first), *rest)
    if isinstance(first, bytes | bytearray):
        return (PaddedBytes(first), *rest)
    raise TypeError(f"cannot mark {type(first).__name__} items as padding")


def is_padding(sample: Any) -> bool:
    """Whether ``sample`` (an item, its name, its first member, or a WebDataset dict with
    ``"__padded__"``) is a padding repeat."""
    if isinstance(sample, PaddedName | PaddedBytes):
        return True
    if isinstance(sample, dict):
        return bool(sample.get("__padded__"))
    if isinstance(sample, tuple | list) and sample:
        return isinstance(sample[0], PaddedName | PaddedBytes)
    return False
