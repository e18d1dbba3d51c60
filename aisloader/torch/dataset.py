"""``AISDataset(client_url, urls_list)``: the first plugin's map-style dataset, kept importable.

Older code wrote ``from aistore.pytorch.dataset import AISDataset`` and passed the cluster URL
and a list of ``ais://bucket/prefix`` URLs; it runs unchanged on :class:`AISMapDataset`.
"""

from __future__ import annotations

from typing import Any

from aisloader.torch.map_dataset import AISMapDataset

__all__ = ["AISDataset"]


class AISDataset(AISMapDataset):
    """Map-style dataset of ``(object_name, bytes)`` over ``urls_list`` on ``client_url``.

    Raises:
        ConfigError: a malformed URL, or nothing matched.
        BucketNotFound: a bucket does not exist.
    """

    def __init__(self, client_url: str, urls_list: str | list[str], **kwargs: Any) -> None:
        super().__init__(urls_list, endpoint=client_url, **kwargs)
