"""The skip policy: read past what cannot be read, within a budget, and say so.

By default a stream raises the typed error of the first object it cannot read. With
``on_error="skip"`` it records the object instead (:class:`Skipped`: the object, the error,
the attempts made) and goes on, until the epoch's skips pass ``skip_budget`` — a count, or a
fraction of the part's items — which raises :class:`SkipBudgetExceeded` carrying the report.
After the epoch, :meth:`SkipLog.report` lists every skipped object.

A skipped object still takes its position of the epoch (a resume counts it as read). Under
``equal`` per-rank counts a skip must not make one rank shorter than the others (DDP would wait
on it for ever): :class:`Refill` replaces each skipped item with a marked repeat of the last
good one (:func:`~aisloader.padding.mark`), or of the next good one when none came yet.

What may be skipped is one rule (:func:`skippable`): the object's own failure — missing,
corrupt, refused (a 4xx) — but never the cluster's or the network's (5xx, 429, transport),
which would otherwise empty an epoch in silence. :func:`read_or_skipped` applies it to a list
of reads (a map-style batch, a multi-shard tuple); the rest of this module is pure rules.

:class:`SkipBudgetExceeded` keeps its report across DataLoader worker processes, where torch
rebuilds it from its message (:mod:`aisloader.errors`, "Round trips"): the message ends with
the report packed (:func:`aisloader._errtext.pack`; an object's name is written once, not again
inside its error), a few KiB for the :attr:`SkipLog.KEEP` entries a report holds at most.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from aisloader import _errtext
from aisloader.core.batch.entry import BatchEntry
from aisloader.core.stages.window import ordered_window
from aisloader.errors import (
    AISError,
    BucketNotFound,
    ConfigError,
    DataError,
    ETLNotFound,
    ObjectNotFound,
)
from aisloader.etl import Etl
from aisloader.padding import mark

if TYPE_CHECKING:
    from aisloader.core.client import AsyncClient

__all__ = [
    "OnError",
    "Refill",
    "SkipBudgetExceeded",
    "SkipLog",
    "Skipped",
    "check_policy",
    "or_skipped",
    "read_or_skipped",
    "skippable",
]

OnError = Literal["raise", "skip"]
T = TypeVar("T")


def check_policy(on_error: str, skip_budget: float) -> None:
    """Raises ConfigError: an unknown policy, or a budget that is neither a count >= 0 nor a
    fraction in (0, 1)."""
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    count = isinstance(skip_budget, int) and skip_budget >= 0
    if not count and not (isinstance(skip_budget, float) and 0 < skip_budget < 1):
        raise ConfigError(
            f"skip_budget must be a count >= 0 or a fraction in (0, 1), not {skip_budget!r}"
        )


@dataclass(frozen=True, slots=True)
class Skipped:
    """An object read past under ``on_error="skip"``: what, why, and how many attempts."""

    uri: str
    error: str
    attempts: int = 1

    @classmethod
    def of(cls, uri: str, exc: BaseException) -> Skipped:
        """The record of ``exc`` raised while reading ``uri``."""
        return cls(uri, f"{type(exc).__name__}: {exc}", int(getattr(exc, "attempts", 0) or 1))


class SkipBudgetExceeded(DataError):
    """More objects could not be read in one epoch than ``skip_budget`` allows.

    Attributes:
        report: the skipped objects (:meth:`SkipLog.report`); it survives pickling and
            torch's worker re-raise (module docs).
    """

    def __init__(self, message: str, report: list[dict[str, Any]] | None = None) -> None:
        if report is None:  # SkipBudgetExceeded(text): a rebuild (aisloader.errors docs)
            self.report = _report_in(type(self), message)
            super().__init__(message)
            return
        self.report = list(report)
        super().__init__(_budget_text(message, self.report))


_REPORT_MARK = " [skip report, packed: "
_REPORT_LINE = (
    rf"(?P<message>{_errtext.QUOTED}|.*?){re.escape(_REPORT_MARK)}"
    rf"(?P<count>\d+) entries (?P<packed>{_errtext.PACKED})\]"
)
_REPORT_FIELDS = {"message": "", "count": 0, "packed": ""}


def _budget_text(message: str, report: list[dict[str, Any]]) -> str:
    """``message`` and ``report`` on one line (the report packed at its end)."""
    try:
        packed = _errtext.pack([_row(entry) for entry in report])
    except (TypeError, ValueError):  # a report that is not JSON-able: the message only
        return message
    return _line(message, len(report), packed)


def _line(message: str, count: int, packed: str) -> str:
    return f"{_errtext.put(message, _REPORT_MARK)}{_REPORT_MARK}{count} entries {packed}]"


def _report_in(cls: type, text: str) -> list[dict[str, Any]]:
    """The report that :func:`_budget_text` wrote into ``text`` ([] when there is none)."""
    fields = _errtext.parse(cls, text, _REPORT_LINE, _REPORT_FIELDS, _line)
    if fields is None:
        return []
    try:
        report = [_entry(row) for row in _errtext.unpack(fields[2])]
    except (ValueError, TypeError, KeyError):
        return []
    return report if len(report) == fields[1] else []


def _row(entry: dict[str, Any]) -> Any:
    """A report entry, compact: ``[object, error with the object's name as NUL, attempts]``
    (any other entry as it is, in a dict)."""
    uri, error = entry.get("object"), entry.get("error")
    compact = set(entry) == {"object", "error", "attempts"} and type(entry["attempts"]) is int
    if compact and isinstance(uri, str) and isinstance(error, str) and uri and "\0" not in error:
        return [uri, error.replace(uri, "\0"), entry["attempts"]]
    return {"entry": entry}


def _entry(row: Any) -> dict[str, Any]:
    if isinstance(row, dict):
        return dict(row["entry"])
    uri, error, attempts = row
    return {"object": uri, "error": error.replace("\0", uri), "attempts": attempts}


class SkipLog:
    """The objects one part skipped this epoch, checked against the budget.

    Args:
        budget: a count of skips allowed, or a fraction of ``items``.
        items: the part's items this epoch (for a fractional budget).
    """

    KEEP = 1000
    """Skips kept in the report (later ones are counted only): the report stays bounded."""

    def __init__(self, budget: float, items: int) -> None:
        self.allowed = budget if isinstance(budget, int) else math.ceil(budget * items)
        self.budget = budget
        self.count = 0
        self.entries: list[Skipped] = []

    def record(self, skipped: Skipped) -> None:
        """Count one skip.

        Raises:
            SkipBudgetExceeded: this skip is one more than the budget allows.
        """
        self.count += 1
        if len(self.entries) < self.KEEP:
            self.entries.append(skipped)
        if self.count > self.allowed:
            raise SkipBudgetExceeded(
                f"{self.count} objects could not be read in this pass, more than skip_budget="
                f"{self.budget!r} allows ({self.allowed}); last: {skipped.uri} ({skipped.error}"
                f", {skipped.attempts} attempts). Fix the data or raise skip_budget.",
                self.report(),
            )

    def report(self) -> list[dict[str, Any]]:
        """Every skip kept: ``{"object", "error", "attempts"}``."""
        return [{"object": s.uri, "error": s.error, "attempts": s.attempts} for s in self.entries]


class Refill:
    """Under equal counts, one marked repeat for every skipped item (see module docs)."""

    __slots__ = ("active", "debt", "last")

    def __init__(self, active: bool) -> None:
        self.active, self.debt, self.last = active, 0, None

    def skipped(self) -> list[Any]:
        """What replaces one skipped item now (nothing when counts need not be equal)."""
        if not self.active:
            return []
        if self.last is None:
            self.debt += 1  # no good item yet: the next one is repeated
            return []
        return [mark(self.last)]

    def good(self, item: Any) -> list[Any]:
        """The repeats owed once ``item`` (a good one) was handed out."""
        self.last = item
        owed, self.debt = self.debt, 0
        return [mark(item)] * owed

    def close(self, where: str) -> None:
        """Raises DataError: every item of the part was skipped (nothing to repeat)."""
        if self.debt:
            raise DataError(
                f"{where}: every object of this part was skipped, so equal counts cannot be kept "
                "(nothing to repeat); fix the data or read without equal="
            )


def skippable(exc: BaseException) -> bool:
    """Whether ``on_error="skip"`` may read past ``exc``: the object's own failure (missing,
    corrupt, refused), not the cluster's (5xx, 429), the network's, nor the setup's (a missing
    bucket or ETL, a missing or expired token: 401) (module docs)."""
    if isinstance(exc, SkipBudgetExceeded | BucketNotFound | ETLNotFound):
        return False
    if isinstance(exc, ObjectNotFound | DataError):
        return True
    return isinstance(exc, AISError) and exc.status < 500 and exc.status not in (401, 429)


async def or_skipped(uri: str, read: Awaitable[T]) -> T | Skipped:
    """``await read``, or the :class:`Skipped` record of ``uri`` when it fails skippably.

    Raises:
        Exception: what ``read`` raised, when it may not be skipped (:func:`skippable`).
    """
    try:
        return await read
    except Exception as exc:
        if not skippable(exc):
            raise
        return Skipped.of(uri, exc)


async def read_or_skipped(
    client: AsyncClient,
    entries: Sequence[BatchEntry],
    etls: Sequence[Etl | None] = (),
    *,
    batch_api: bool = False,
) -> list[bytes | Skipped]:
    """The data of every entry, in order, all fetched concurrently; an entry that cannot be
    read is its :class:`Skipped` record. ``etls[k]`` applies to entry ``k`` (none by default).
    With ``batch_api`` (and no ETL) one get-batch request reads them; when it fails for
    another reason than missing entries, plain GETs read them again one by one, so each
    failure is pinned to its entry.

    Raises:
        TransportError, ServiceUnavailable, Throttled: an error no object is to blame for.
    """
    spec = list(etls) or [None] * len(entries)
    if batch_api and not any(spec) and entries:
        pairs = client.get_batch(entries, batch_size=len(entries), continue_on_error=True)
        try:
            async with aclosing(pairs):
                return [_value(entry, value) async for entry, value in pairs]
        except Exception as exc:
            if not skippable(exc):
                raise

    async def one(k: int) -> bytes | Skipped:
        entry = entries[k]
        archpath = entry.archpath or None
        return await or_skipped(entry.uri, client.get(entry.ref, archpath=archpath, etl=spec[k]))

    window = ordered_window(range(len(entries)), one, client.config.window)
    async with aclosing(window):
        return [value async for _, value in window]


def _value(entry: BatchEntry, value: bytes | ObjectNotFound) -> bytes | Skipped:
    return Skipped.of(entry.uri, value) if isinstance(value, ObjectNotFound) else value
