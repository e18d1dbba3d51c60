"""``DynamicBatchSampler``: batches bounded in bytes, using object sizes from the listing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from torch.utils.data import Sampler

from aisloader.core.streams.order import Permutation
from aisloader.errors import ConfigError

__all__ = ["SATURATION_FACTOR", "DynamicBatchSampler"]

SATURATION_FACTOR = 0.8
"""Default share of ``max_batch_size`` a last batch must exceed to be kept with ``drop_last``."""

_log = logging.getLogger("aisloader.sampler")


class DynamicBatchSampler(Sampler[list[int]]):
    """Yield lists of indices whose objects add up to at most ``max_batch_size`` bytes.

    The plugin's arguments and batching rule: objects are added while the batch stays under
    ``max_batch_size`` (a batch that reaches it exactly closes with that object); by default an
    object larger than ``max_batch_size`` and an empty object are skipped with a warning, as
    the plugin does (``allow_oversized_samples=True`` puts an oversized one in a batch of its
    own). ``strict=True`` raises on an oversized object instead and keeps empty ones, so no
    sample is ever dropped. Differences on purpose: the shuffle is seeded (``seed``,
    :meth:`set_epoch`) instead of the global RNG, and ``len()`` counts batches (what
    ``len(DataLoader)`` needs; the plugin returns the number of samples).

    Args:
        data_source: an aisloader map-style dataset (its listing gives the sizes; objects
            listed by name without sizes are HEADed once).
        max_batch_size: bytes per batch.
        drop_last: drop a last batch that is not more than ``saturation_factor`` full.
        allow_oversized_samples: an object over ``max_batch_size`` gets a batch of its own.
        saturation_factor: see ``drop_last``.
        shuffle: a seeded shuffle, different per epoch.
        seed: shuffle seed.
        strict: raise on an oversized object, keep empty objects (never skip a sample).

    Raises:
        ConfigError: bad bounds; with ``strict``, an oversized object (while iterating).
    """

    def __init__(
        self,
        data_source: Any,
        max_batch_size: float,
        drop_last: bool = False,
        allow_oversized_samples: bool = False,
        saturation_factor: float = SATURATION_FACTOR,
        shuffle: bool = False,
        *,
        seed: int = 0,
        strict: bool = False,
    ) -> None:
        if max_batch_size <= 0 or not 0 <= saturation_factor <= 1:
            raise ConfigError("max_batch_size must be > 0 and saturation_factor in [0, 1]")
        self._manifest = data_source.manifest
        self._sizes = _sizes(data_source)
        self._max = max_batch_size
        self._drop_last, self._oversized = drop_last, allow_oversized_samples
        self._saturation, self._shuffle, self._seed = saturation_factor, shuffle, seed
        self._strict = strict
        self._epoch = 0
        self._cached: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's shuffle order."""
        self._epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())

    def _batches(self) -> list[list[int]]:
        if self._cached is not None and self._cached[0] == self._epoch:
            return self._cached[1]
        order = Permutation(len(self._sizes), self._seed, self._epoch, shuffle=self._shuffle)
        batches: list[list[int]] = []
        batch: list[int] = []
        used = 0
        for index in order:
            size = self._sizes[index]
            if size > self._max or (size == 0 and not self._strict):
                if self._admit_alone(index, size):
                    batches.append([index])
                continue
            if used + size > self._max:
                batches.append(batch)
                batch, used = [], 0
            batch.append(index)
            used += size
            if used == self._max:
                batches.append(batch)
                batch, used = [], 0
        if batch and (not self._drop_last or used / self._max > self._saturation):
            batches.append(batch)
        self._cached = (self._epoch, batches)
        return batches

    def _admit_alone(self, index: int, size: int) -> bool:
        """An empty or oversized object: its own batch, a warning and a skip, or an error."""
        uri = self._manifest.ref(index).uri
        if size == 0:
            _log.warning("skipped %s: it has a size of 0 bytes (strict=True keeps it)", uri)
            return False
        if self._oversized:
            return True
        if self._strict:
            raise ConfigError(
                f"{uri} is {size} bytes, more than max_batch_size={self._max:g}: raise "
                "max_batch_size or pass allow_oversized_samples=True"
            )
        _log.warning(
            "skipped %s: %d bytes > max_batch_size %g (allow_oversized_samples=True keeps it)",
            uri,
            size,
            self._max,
        )
        return False


def _sizes(data_source: Any) -> list[int]:
    """Object sizes from the listing; objects listed by name (no size) are HEADed once."""
    manifest = data_source.manifest
    sizes = [manifest.size(i) for i in range(len(manifest))]
    unknown = [i for i, size in enumerate(sizes) if size < 0]
    if unknown:
        refs = [manifest.ref(i) for i in unknown]
        heads = data_source._conn.run_short_lived(lambda c: c.sizes(refs))
        for i, size in zip(unknown, heads, strict=True):
            sizes[i] = size
    return sizes
