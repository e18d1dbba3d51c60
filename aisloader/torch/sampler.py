"""``DynamicBatchSampler``: batches bounded in bytes, using object sizes from the listing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import Sampler

from aisloader.core.order import Permutation
from aisloader.errors import ConfigError

__all__ = ["DynamicBatchSampler"]


class DynamicBatchSampler(Sampler[list[int]]):
    """Yield lists of indices whose objects add up to at most ``max_batch_size`` bytes.

    Same arguments as ``aistore.pytorch.DynamicBatchSampler``, plus a ``seed`` and
    :meth:`set_epoch` for a reproducible shuffle (the plugin used the global RNG). ``len()``
    counts batches (the plugin counted samples).

    Args:
        data_source: an aisloader map-style dataset (its manifest gives the sizes).
        max_batch_size: bytes per batch.
        drop_last: drop a last batch below ``saturation_factor × max_batch_size``.
        allow_oversized_samples: put an object larger than ``max_batch_size`` in a batch of its
            own; otherwise such an object raises (never a silent skip).
        saturation_factor: a batch is closed once it is this full and the next object does not fit.
        shuffle: seeded shuffle, different per epoch.
        seed: shuffle seed.

    Raises:
        ConfigError: bad bounds, or the listing has no sizes (explicit name lists).
    """

    def __init__(
        self,
        data_source: Any,
        max_batch_size: float,
        drop_last: bool = False,
        allow_oversized_samples: bool = False,
        saturation_factor: float = 0.8,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        if max_batch_size <= 0 or not 0 < saturation_factor <= 1:
            raise ConfigError("max_batch_size must be > 0 and saturation_factor in (0, 1]")
        self._manifest = data_source.manifest
        if any(self._manifest.size(i) < 0 for i in range(len(self._manifest))):
            raise ConfigError("DynamicBatchSampler needs object sizes; list a bucket/prefix")
        self._max = max_batch_size
        self._drop_last, self._oversized = drop_last, allow_oversized_samples
        self._saturation, self._shuffle, self._seed = saturation_factor, shuffle, seed
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
        order = Permutation(len(self._manifest), self._seed, self._epoch, shuffle=self._shuffle)
        batches: list[list[int]] = []
        batch: list[int] = []
        used = 0
        for index in order:
            size = self._manifest.size(index)
            if size > self._max:
                batches.append([index] if self._oversized else self._too_big(index, size))
                continue
            if batch and used + size > self._max:
                batches.append(batch)
                batch, used = [], 0
            batch.append(index)
            used += size
        if batch and not (self._drop_last and used < self._saturation * self._max):
            batches.append(batch)
        self._cached = (self._epoch, batches)
        return batches

    def _too_big(self, index: int, size: int) -> list[int]:
        raise ConfigError(
            f"{self._manifest.ref(index).uri} is {size} bytes, more than max_batch_size="
            f"{self._max:g}: raise max_batch_size or pass allow_oversized_samples=True"
        )
