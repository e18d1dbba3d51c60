"""``AISMapDataset``: a map-style dataset of ``(object_name, bytes)`` (the plugin's name)."""

from __future__ import annotations

from aisloader.torch.base_map_dataset import AISBaseMapDataset

__all__ = ["AISMapDataset"]


class AISMapDataset(AISBaseMapDataset):
    """Map-style dataset of ``(object_name, bytes)`` samples (``aistore.pytorch`` compatible).

    Same arguments as :class:`~aisloader.torch.base_map_dataset.AISBaseMapDataset`:
    ``AISMapDataset(ais_source_list, prefix_map=None, etl_name=None, *, client=None,
    endpoint=None, config=None, transform=None, manifest=None, show_progress=False,
    use_batch_api=False, on_error="raise", skip_budget=0.01)``. With ``on_error="skip"``
    a DataLoader batch leaves out the objects that cannot be read, within ``skip_budget``,
    and records them (``skip_report()``); see
    :mod:`~aisloader.torch.base_map_dataset`.

    Raises:
        ConfigError: no source, a malformed source, no endpoint, nothing matched, or a bad
            ``on_error``/``skip_budget``.
        BucketNotFound: a bucket does not exist.
        SkipBudgetExceeded: reading a batch, one skip more than ``skip_budget`` allows.
        SkipNeedsBatches: ``on_error="skip"`` and the object of a single index
            (``dataset[i]``) cannot be read.
    """
