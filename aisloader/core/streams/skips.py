"""The skip policy (pure rules): read past what cannot be read, within a budget, and say so.

By default a stream raises the typed error of the first object it cannot read. With
``on_error="skip"`` it records the object instead (:class:`Skipped`: the object, the error,
the attempts made) and goes on, until the epoch's skips pass ``skip_budget`` — a count, or a
fraction of the part's items — which raises :class:`SkipBudgetExceeded` carrying the report.
After the epoch, :meth:`SkipLog.report` lists every skipped object.

A skipped object still takes its position of the epoch (a resume counts it as read). Under
``equal`` per-rank counts a skip must not make one rank shorter than the others (DDP would wait
on it for ever): :class:`Refill` replaces each skipped item with a marked repeat of the last
good one (:func:`~aisloader.padding.mark`), or of the next good one when none came yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from aisloader.errors import ConfigError, DataError
from aisloader.padding import mark

__all__ = ["OnError", "Refill", "SkipBudgetExceeded", "SkipLog", "Skipped", "check_policy"]

OnError = Literal["raise", "skip"]


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
        report: the skipped objects (:meth:`SkipLog.report`).
    """

    def __init__(self, message: str, report: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.report = report or []

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, (str(self), self.report))


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
                f"{self.count} objects could not be read this epoch, more than skip_budget="
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
