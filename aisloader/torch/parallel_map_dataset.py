"""``AISParallelMapDataset``: large objects read as concurrent range GETs (the plugin's name).

Where the plugin splits each object into byte ranges fetched by a pool of threads, each range
here is a GET on this process's event loop, written straight into one preallocated buffer
(:func:`aisloader.core.ranges.read_ranges`): no thread or process pool, no shared memory.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aisloader.errors import ConfigError
from aisloader.torch._sig import spelled_out
from aisloader.torch.base_map_dataset import AISBaseMapDataset, PrefixMap

__all__ = ["AISParallelMapDataset", "ParallelBytes"]


class ParallelBytes(bytes):
    """The object's bytes, with the surface of the SDK's ``ParallelBuffer`` (``buf``,
    ``tobytes()``, ``close()``, a context manager) so code written for the plugin runs; it is
    plain ``bytes`` otherwise (nothing to release: no shared memory is used)."""

    @property
    def buf(self) -> memoryview:
        """A read-only view of the bytes."""
        return memoryview(self)

    def tobytes(self) -> bytes:
        """The bytes."""
        return bytes(self)

    def close(self) -> None:
        """Nothing to release (kept for the ``ParallelBuffer`` contract)."""

    def __enter__(self) -> ParallelBytes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@spelled_out()
class AISParallelMapDataset(AISBaseMapDataset):
    """Map-style dataset of ``(object_name, bytes)``, each object read as up to
    ``num_workers`` concurrent range GETs.

    Args:
        ais_source_list / prefix_map: as for :class:`AISMapDataset`.
        num_workers: concurrent range reads per object (the plugin's name; not DataLoader
            workers).
        min_part: smallest range in bytes; objects under ``2 × min_part`` are read whole.
        **kwargs: the keyword options of :class:`AISBaseMapDataset` (``etl_name`` gives one
            plain GET per object: an ETL's output cannot be ranged; ``on_error="skip"`` leaves
            an unreadable object out of its batch, as there).

    Raises:
        ConfigError: ``num_workers`` < 1, or as :class:`AISMapDataset`.
    """

    _batch_reads: ClassVar[bool] = False  # each object of a batch is already read in parallel

    def __init__(
        self,
        ais_source_list: Any = None,
        prefix_map: PrefixMap | None = None,
        num_workers: int = 16,
        *,
        min_part: int = 4 << 20,
        **kwargs: Any,
    ) -> None:
        if num_workers < 1 or min_part < 1:
            raise ConfigError(f"num_workers and min_part must be >= 1: {num_workers}, {min_part}")
        super().__init__(ais_source_list, prefix_map, **kwargs)
        self._num_workers, self._min_part = num_workers, min_part

    @property
    def num_workers(self) -> int:
        """Concurrent range reads per object."""
        return self._num_workers

    def _get(self, index: int) -> Any:
        ref = self._manifest.ref(index)
        size = self._manifest.size(index % len(self._manifest))
        workers, part, etl = self._num_workers, self._min_part, self._etl
        data = self._conn.call(
            lambda c: c.get_parallel(
                ref, workers=workers, min_part=part, size=size, etl=etl, as_type=ParallelBytes
            )
        )
        return self._finish(ref, data)
