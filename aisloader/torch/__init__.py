"""PyTorch datasets over AIStore (the only package that imports torch).

Names match ``aistore.pytorch`` so code migrates by changing the import.
"""

import torch  # noqa: F401  (fail loudly here when the 'torch' extra is missing)

from aisloader.core.sources import ObjectList
from aisloader.torch.batch_dataset import AISBatchIterDataset
from aisloader.torch.iter_dataset import AISBaseIterDataset, AISIterDataset
from aisloader.torch.map_dataset import AISBaseMapDataset, AISMapDataset
from aisloader.torch.multishard import AISMultiShardStream
from aisloader.torch.sampler import DynamicBatchSampler
from aisloader.torch.shard_map import AISShardMapDataset
from aisloader.torch.shard_reader import AISShardReader

__all__ = [
    "AISBaseIterDataset",
    "AISBaseMapDataset",
    "AISBatchIterDataset",
    "AISIterDataset",
    "AISMapDataset",
    "AISMultiShardStream",
    "AISShardMapDataset",
    "AISShardReader",
    "DynamicBatchSampler",
    "ObjectList",
]
