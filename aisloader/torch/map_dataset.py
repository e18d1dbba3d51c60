"""``AISMapDataset``: a map-style dataset of ``(object_name, bytes)`` (the plugin's name)."""

from __future__ import annotations

from aisloader.torch.base_map_dataset import AISBaseMapDataset

__all__ = ["AISMapDataset"]


class AISMapDataset(AISBaseMapDataset):
    """Map-style dataset of ``(object_name, bytes)`` samples (``aistore.pytorch`` compatible).

    Same arguments as :class:`~aisloader.torch.base_map_dataset.AISBaseMapDataset`:
    ``AISMapDataset(ais_source_list, prefix_map=None, etl_name=None, *, client=None,
    endpoint=None, config=None, transform=None, manifest=None, show_progress=False,
    use_batch_api=False)``.

    Raises:
        ConfigError: no source, a malformed source, no endpoint, or nothing matched.
        BucketNotFound: a bucket does not exist.
    """
