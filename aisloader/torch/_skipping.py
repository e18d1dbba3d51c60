"""``on_error="skip"`` in the map-style datasets (its rules: :mod:`aisloader.core.streams.skips`).

Shared by :class:`~aisloader.torch.base_map_dataset.AISBaseMapDataset` and
:class:`~aisloader.torch.shard_map.AISShardMapDataset`. The budget holds per pass of each
process (:class:`Pass`: the next ``share`` indices it reads, ``share = len(dataset) / (ranks ×
DataLoader workers)`` rounded up); each skip is logged as a warning on the ``aisloader.skips``
logger; a single index that cannot be read raises :class:`~aisloader.errors.SkipNeedsBatches`
(:func:`needs_batches`). Shards an index leaves out (:func:`unindexed`) have their own budget,
checked once, at construction.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import Any

from torch.utils.data import get_worker_info

from aisloader.core.streams.skips import SkipBudgetExceeded, SkipLog, Skipped
from aisloader.errors import ShardFormatError, SkipNeedsBatches
from aisloader.torch._env import world

__all__ = ["Pass", "needs_batches", "pass_of", "report_of", "rows", "unindexed"]

_log = logging.getLogger("aisloader.skips")


class Pass:
    """The skips of one pass of one process: the next ``share`` indices it reads, its share
    of the dataset (``len / (ranks × DataLoader workers)``, rounded up; module docs)."""

    __slots__ = ("log", "name", "pid", "read", "share")

    def __init__(self, size: int, budget: float, name: str) -> None:
        info = get_worker_info()
        parts = world()[1] * (info.num_workers if info is not None else 1)
        self.pid, self.share, self.read, self.name = os.getpid(), math.ceil(size / parts), 0, name
        self.log = SkipLog(budget, self.share)

    def record(self, skipped: Skipped) -> None:
        """Count ``skipped`` and say so (a warning on ``aisloader.skips``).

        Raises:
            SkipBudgetExceeded: one skip more than the budget allows.
        """
        skips = self.log
        skips.record(skipped)
        _log.warning(
            "%s skipped %s (%s, %d attempts): %d this pass in this process, %d allowed "
            "(on_error='skip'; skip_report() lists them)",
            *(self.name, skipped.uri, skipped.error, skipped.attempts, skips.count, skips.allowed),
        )


def pass_of(current: Pass | None, size: int, budget: float, name: str, reading: int) -> Pass:
    """The pass the next ``reading`` indices belong to, with them counted: ``current`` while
    it is this process's and not full, else a new one (a fork or spawn starts its own)."""
    if current is None or current.pid != os.getpid() or current.read >= current.share:
        current = Pass(size, budget, name)
    current.read += reading
    return current


def rows(records: Sequence[Skipped]) -> list[dict[str, Any]]:
    """``records`` as report entries: ``{"object", "error", "attempts"}`` each."""
    return [{"object": r.uri, "error": r.error, "attempts": r.attempts} for r in records]


def report_of(current: Pass | None) -> list[dict[str, Any]]:
    """The skips of ``current`` when it is this process's pass (a parent's is not)."""
    return current.log.report() if current and current.pid == os.getpid() else []


def needs_batches(name: str, index: int, what: str, exc: BaseException) -> SkipNeedsBatches:
    """The error for ``name[index]`` under ``on_error="skip"`` when ``what`` (the object or
    sample there) cannot be read: a single index has nothing to return in its place. Raise
    it ``from exc``."""
    return SkipNeedsBatches(
        f"{name}[{index}]: {what} cannot be read ({type(exc).__name__}) and on_error='skip' "
        "cannot leave it out of a single index (nothing to return in its place). Load "
        "batches (a DataLoader with batch_size calls __getitems__, which leaves it out), or "
        "use on_error='raise' to get its own error."
    )


def unindexed(
    name: str, errors: Sequence[ShardFormatError], shards: int, budget: float
) -> list[Skipped]:
    """The records of the shards an index left out (``errors``, of ``shards`` listed), each
    logged as a warning. ``budget`` is a count of shards, or a fraction of ``shards``.

    Raises:
        SkipBudgetExceeded: more shards left out than ``budget`` allows (the report names
            every one, up to :attr:`SkipLog.KEEP`).
    """
    records = [Skipped.of(e.shard, e) for e in errors]
    allowed = SkipLog(budget, shards).allowed
    if len(records) > allowed:
        named = ", ".join(r.uri for r in records[:3]) + (", ..." if len(records) > 3 else "")
        raise SkipBudgetExceeded(
            f"{name}: {len(records)} of {shards} shards cannot be read as archives, more "
            f"than skip_budget={budget!r} allows ({allowed}): {named}. Fix or remove those "
            "shards, or raise skip_budget.",
            rows(records[: SkipLog.KEEP]),
        )
    for r in records:
        _log.warning(
            "%s left %s out of its index (%s): its samples are not in the dataset; %d of %d "
            "shards left out, %d allowed (on_error='skip'; skip_report() lists them)",
            *(name, r.uri, r.error, len(records), shards, allowed),
        )
    return records
