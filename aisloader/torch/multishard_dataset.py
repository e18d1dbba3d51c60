"""``AISMultiShardStream``: several shard sets zipped member by member (the plugin's name).

Each data source is a set of shards (bucket + prefix); item ``i`` is the tuple of the ``i``-th
member of each source (the plugin's ``zip``), read by
:class:`~aisloader.core.streams.multishard.MultiShardStream`. Unlike the plugin, the tuples are
split across ranks × DataLoader workers (each tuple exactly once, by the same rule as every
other dataset), and members are fetched concurrently (get-batch when the cluster has it)
instead of one blocking GET each.

With ``on_error="skip"`` a tuple with a member that cannot be read (missing member or shard,
corrupt shard) is skipped whole — never handed out in part — and recorded: ``skip_report()``
and a warning at the end of each pass, within ``skip_budget`` (as for ``AISIterDataset``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from aisloader.core.listing.sources import data_shard_source
from aisloader.core.streams.multishard import MultiShardStream
from aisloader.errors import ConfigError
from aisloader.torch._base import ResumableIterable
from aisloader.torch._sig import spelled_out

__all__ = ["AISMultiShardStream"]


@spelled_out()
class AISMultiShardStream(ResumableIterable):
    """Tuples ``(bytes_from_source_0, bytes_from_source_1, ...)``; see the module docs.

    Args:
        data_sources: one entry per stream: an ``ais://bucket/prefix`` string, a Bucket, or an
            official SDK ``DataShard`` (``bucket_name``, ``provider``, ``prefix``, and its
            ``etl_name``, applied by the cluster to that stream's members).
        shuffle / seed: a seeded tuple order per epoch (off by default, as in the plugin).
        equal: ``"pad"``/``"drop"``: the same number of tuples on every rank (a skipped tuple
            is then replaced by a marked repeat, see :func:`~aisloader.is_padding`).
        on_error: ``"skip"`` reads past a tuple with a member that cannot be read (module
            docs); default ``"raise"``. A network failure or a 5xx always raises.
        skip_budget: skipped tuples allowed per pass and part: a count, or a fraction of the
            part's tuples (default 0.01); one more raises ``SkipBudgetExceeded`` with the report.
        client / endpoint / config / transform / show_progress / rank / world_size: as for the
            other datasets (an SDK ``DataShard`` also supplies the endpoint).

    Raises:
        ConfigError: fewer than one source, an unknown source, a source with no members, or a
            bad ``on_error``/``skip_budget``.
        SkipBudgetExceeded: while iterating, more skips in a pass than ``skip_budget``.
    """

    def __init__(
        self,
        data_sources: Sequence[Any],
        *,
        shuffle: bool = False,
        seed: int = 0,
        equal: Literal["pad", "drop"] | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        skip_budget: float = 0.01,
        **kwargs: Any,
    ) -> None:
        if not data_sources:
            raise ConfigError("AISMultiShardStream needs at least one data source")
        columns = [data_shard_source(ds) if _is_data_shard(ds) else ds for ds in data_sources]
        etls = [getattr(ds, "etl_name", None) or None for ds in data_sources]
        stream = MultiShardStream(
            columns,
            shuffle=shuffle,
            seed=seed,
            etls=etls,
            equal=equal,
            on_error=on_error,
            skip_budget=skip_budget,
        )
        super().__init__(stream, origin=list(data_sources), **kwargs)

    def __len__(self) -> int:
        """Tuples this rank reads per epoch (all its DataLoader workers together)."""
        return self._part_size()


def _is_data_shard(ds: Any) -> bool:
    return getattr(ds, "bucket_name", None) is not None
