"""``AISShardMapDataset``: map-style random access to samples inside unmodified shards.

Indexed once from the cluster's archive listing (:func:`build_shard_index`), read by
``archpath``: ``dataset[i]`` fetches the members of sample ``i`` concurrently; a DataLoader
batch (``__getitems__``) fetches every member of every sample of the batch in one bridge hop.
Use any sampler (``RandomSampler``, ``DistributedSampler``) for a global shuffle without
converting the data. ``save_index`` / ``index=`` reuse the index across runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from aisloader.config import ClientConfig
from aisloader.core.batch.entry import BatchEntry
from aisloader.core.listing.shard_index import ShardIndex, build_shard_index
from aisloader.core.listing.sources import sources
from aisloader.etl import Etl, EtlLike
from aisloader.torch._conn import TorchConn, source_items

__all__ = ["AISShardMapDataset"]

Sample = dict[str, Any]


class AISShardMapDataset(Dataset[Sample]):
    """Samples of WebDataset shards by index: ``{"__key__", "__url__", ext: bytes, ...}``.

    Args:
        ais_source_list: shard sources (``ais://bucket/prefix``, buckets, lists, ObjectList of
            shard names).
        prefix_map: source → prefix(es).
        index: a :class:`ShardIndex` or the path of one saved with :meth:`save_index`.
        client / endpoint / config: where and how to connect.
        transform: applied to each sample dict in the consuming process.
        use_batch_api: read a batch's members with one get-batch request (archpath entries)
            instead of concurrent archpath GETs.
        etl_name: a server-side ETL applied to every member the cluster serves (members are
            then read with GETs: get-batch applies no ETL).

    Raises:
        ConfigError: bad sources, or no shard member matched.
        BucketNotFound: a bucket does not exist.
    """

    def __init__(
        self,
        ais_source_list: Any = None,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        *,
        index: ShardIndex | str | Path | None = None,
        client: Any = None,
        endpoint: str | None = None,
        config: ClientConfig | None = None,
        transform: Callable[[Sample], Any] | None = None,
        use_batch_api: bool = False,
        etl_name: EtlLike = None,
    ) -> None:
        self._conn = TorchConn(endpoint, config, client, source_items(ais_source_list, prefix_map))
        self._etl = Etl.of(etl_name)
        self._transform = transform
        self._use_batch_api = use_batch_api
        if isinstance(index, str | Path):
            index = ShardIndex.load(index)
        if index is None:
            srcs = sources(ais_source_list, prefix_map)
            index = self._conn.run_short_lived(lambda c: build_shard_index(c, srcs))
        self._index = index

    @property
    def index(self) -> ShardIndex:
        """The sample index."""
        return self._index

    def save_index(self, path: str | Path) -> None:
        """Save the index so a later run can pass ``index=path`` and skip listing."""
        self._index.save(path)

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, index: int) -> Any:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        samples = [self._index.sample(i) for i in indices]
        entries = [BatchEntry(m.shard, archpath=m.member) for _, refs in samples for m in refs]
        batch_api, etl = self._use_batch_api, self._etl
        datas = iter(self._conn.call(lambda c: c.get_all(entries, batch_api=batch_api, etl=etl)))
        out = []
        for key, refs in samples:
            sample: Sample = {"__key__": key, "__url__": refs[0].shard.uri}
            for ref in refs:
                sample[ref.ext] = next(datas)
            out.append(sample if self._transform is None else self._transform(sample))
        return out
