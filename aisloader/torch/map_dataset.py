"""Map-style datasets: ``AISBaseMapDataset`` and ``AISMapDataset`` (the plugin's names).

The listing is made once, at construction, into a compact :class:`Manifest` (flat buffers, so
forked workers do not copy it page by page). ``__getitem__`` does one GET; ``__getitems__``
(which the DataLoader calls with a whole batch) fetches the batch concurrently in one bridge hop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch.utils.data import Dataset
from tqdm import tqdm

from aisloader.config import ClientConfig
from aisloader.core.batch import get_batch
from aisloader.core.manifest import Manifest
from aisloader.core.sources import Source, build_manifest, sources
from aisloader.errors import ConfigError
from aisloader.refs import ObjectRef
from aisloader.torch._bridge import Conn

__all__ = ["AISBaseMapDataset", "AISMapDataset"]


class AISBaseMapDataset(Dataset[Any]):
    """Base for map-style datasets over AIS objects; subclasses override :meth:`make_sample`.

    Args:
        ais_source_list: ``ais://bucket[/prefix]`` strings, :class:`~aisloader.Bucket`,
            :class:`~aisloader.core.sources.ObjectList`, official SDK buckets/object groups, or
            a list of those.
        prefix_map: source → prefix or list of prefixes (as in ``aistore.pytorch``).
        client: an :class:`aisloader.Client`/``AsyncClient`` whose endpoint and config to use.
        endpoint: cluster URL (default ``AIS_ENDPOINT``).
        config: :class:`~aisloader.ClientConfig` (default from the environment).
        transform: applied to each object's bytes in the consuming process.
        manifest: a prebuilt :class:`Manifest` (skips listing).
        show_progress: show a tqdm bar while listing.
        use_batch_api: fetch each DataLoader batch (``__getitems__``) with one get-batch
            request instead of concurrent GETs (falls back to GETs on clusters without it).

    Raises:
        ConfigError: no source, a malformed source, no endpoint, or nothing matched.
        BucketNotFound: a bucket does not exist.
    """

    def __init__(
        self,
        ais_source_list: Any = None,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        *,
        client: Any = None,
        endpoint: str | None = None,
        config: ClientConfig | None = None,
        transform: Callable[[bytes], Any] | None = None,
        manifest: Manifest | None = None,
        show_progress: bool = False,
        use_batch_api: bool = False,
    ) -> None:
        self._conn = Conn(endpoint, config, client)
        self._transform = transform
        self._use_batch_api = use_batch_api
        if manifest is None:
            manifest = _list_once(self._conn, sources(ais_source_list, prefix_map), show_progress)
        if not len(manifest):
            raise ConfigError("the manifest is empty: nothing to read")
        self._manifest = manifest

    @property
    def manifest(self) -> Manifest:
        """The listing: names, sizes and buckets of every object, by index."""
        return self._manifest

    def get_obj_list(self) -> Manifest:
        """The listing (plugin-compatible name; indexable, yields ObjectRef)."""
        return self._manifest

    def __len__(self) -> int:
        return len(self._manifest)

    def make_sample(self, ref: ObjectRef, data: bytes) -> Any:
        """Turn one object into a sample; the default is ``(object_name, data)``."""
        return ref.name, data

    def __getitem__(self, index: int) -> Any:
        ref = self._manifest.ref(index)
        data = self._conn.call(lambda c: c.get(ref))
        return self._finish(ref, data)

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        refs = [self._manifest.ref(i) for i in indices]

        async def fetch(client: Any) -> list[bytes]:
            if self._use_batch_api:
                pairs = get_batch(client, refs, batch_size=len(refs), continue_on_error=False)
                return [data async for _, data in pairs]  # type: ignore[misc]
            return [data async for _, data in client.get_many(refs)]

        datas = self._conn.call(fetch)
        return [self._finish(ref, data) for ref, data in zip(refs, datas, strict=True)]

    def _finish(self, ref: ObjectRef, data: bytes) -> Any:
        if self._transform is not None:
            data = self._transform(data)
        return self.make_sample(ref, data)


class AISMapDataset(AISBaseMapDataset):
    """Map-style dataset of ``(object_name, bytes)`` samples (``aistore.pytorch`` compatible).

    Accepts the official plugin's ``etl_name`` argument only as ``None`` (server-side ETL is
    not supported by aisloader; passing a name raises :class:`ConfigError`).
    """

    def __init__(
        self,
        ais_source_list: Any = None,
        prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None,
        etl_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if etl_name is not None:
            raise ConfigError("etl_name is not supported by aisloader; apply transform= instead")
        super().__init__(ais_source_list, prefix_map, **kwargs)


def _list_once(conn: Conn, srcs: Sequence[Source], show_progress: bool) -> Manifest:
    page_size = conn.config.list_page_size or None
    with tqdm(desc="listing", unit="obj", disable=not show_progress) as bar:
        return conn.run_short_lived(
            lambda c: build_manifest(c, srcs, page_size=page_size, progress=lambda _: bar.update())
        )
